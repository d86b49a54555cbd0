using System.Security.Cryptography;

namespace RootfsForge.Sources.Oci;

/// <summary>
/// A content digest (image-spec descriptor.md, "Digests"): <c>algorithm:encoded</c>. Only <c>sha256</c> is read;
/// <c>sha512</c> and unregistered algorithms are refused with <see cref="UnsupportedImageException"/>.
/// </summary>
internal readonly record struct ContentDigest
{
    private const string Prefix = "sha256:";

    private ContentDigest(string hex) => Hex = hex;

    /// <summary>The 64 lower-case hex digits.</summary>
    public string Hex { get; }

    /// <summary>Parses a digest found in <paramref name="structure"/> (for the error message).</summary>
    public static ContentDigest Parse(string? text, string structure)
    {
        if (text is null) throw new ImageFormatException("a descriptor has no digest", structure);
        if (text.StartsWith(Prefix, StringComparison.Ordinal))
        {
            var hex = text[Prefix.Length..];
            if (hex.Length == 64 && hex.All(c => c is (>= '0' and <= '9') or (>= 'a' and <= 'f')))
                return new ContentDigest(hex);
            throw new ImageFormatException($"'{text}' is not a valid sha256 digest (64 lower-case hex digits)", structure);
        }
        int colon = text.IndexOf(':');
        if (colon > 0)
            throw new UnsupportedImageException($"digest algorithm '{text[..colon]}' is not supported (only sha256): {text}", structure);
        throw new ImageFormatException($"'{text}' is not a digest", structure);
    }

    /// <summary>The digest of <paramref name="content"/>.</summary>
    public static ContentDigest Of(ReadOnlySpan<byte> content) => FromHash(SHA256.HashData(content));

    /// <summary>The digest for a finished SHA-256 value.</summary>
    public static ContentDigest FromHash(ReadOnlySpan<byte> sha256) => new(Convert.ToHexStringLower(sha256));

    /// <summary><c>sha256:</c> + hex.</summary>
    public override string ToString() => Prefix + Hex;
}
