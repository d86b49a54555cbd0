using System.Text;
using NSec.Cryptography;

namespace RootfsForge.Definitions;

/// <summary>
/// Ed25519 signatures over a <see cref="BuildManifest"/>'s exact bytes bound to the flist's tree digest (<see
/// cref="Message"/>), so a node operator can tell a flist built by a
/// known CI key from a hand-made one. Keys are 32-byte Ed25519 seeds (private) and 32-byte public keys, written as
/// base64 in files or environment variables, never on the command line.
/// </summary>
public static class ManifestSignature
{
    /// <summary>The environment variable a signing key may come from (base64 of the 32-byte seed).</summary>
    public const string KeyVariable = "ROOTFSFORGE_SIGNING_KEY";

    /// <summary>The <c>.fl</c> tag holding the manifest (one-line JSON).</summary>
    public const string ManifestTag = "manifest";

    /// <summary>The <c>.fl</c> tag holding the base64 signature.</summary>
    public const string SignatureTag = "manifest.sig";

    /// <summary>The <c>.fl</c> tag holding the signer's base64 public key.</summary>
    public const string PublicKeyTag = "manifest.key";

    /// <summary>
    /// The <c>.fl</c> tag holding the flist's tree digest (<see cref="RootfsForge.Flist.FlistTreeDigest"/>) the manifest was
    /// written for; the signature covers it.
    /// </summary>
    public const string TreeTag = "manifest.tree";

    private static readonly byte[] MessageHeader = "rootfsforge-manifest/v2\n"u8.ToArray();

    private static readonly SignatureAlgorithm Ed25519 = SignatureAlgorithm.Ed25519;

    /// <summary>A new key pair: (private seed, public key), each base64.</summary>
    public static (string PrivateKey, string PublicKey) NewKeyPair()
    {
        using var key = new Key(Ed25519, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport });
        return (Convert.ToBase64String(key.Export(KeyBlobFormat.RawPrivateKey)),
            Convert.ToBase64String(key.PublicKey.Export(KeyBlobFormat.RawPublicKey)));
    }

    /// <summary>
    /// The bytes a manifest signature covers (docs/flist-format.md §13): <c>rootfsforge-manifest/v2</c>, a newline, the
    /// flist's tree digest (<c>sha256:HEX</c>), a newline, then the manifest tag's exact UTF-8 bytes. Binding the tree
    /// digest means a signature copied with its tags onto another <c>.fl</c> does not verify there.
    /// </summary>
    public static byte[] Message(ReadOnlySpan<byte> manifest, string treeDigest)
    {
        ArgumentNullException.ThrowIfNull(treeDigest);
        return [.. MessageHeader, .. Encoding.ASCII.GetBytes(treeDigest), (byte)'\n', .. manifest];
    }

    /// <summary>Signs <paramref name="manifest"/> with the base64 private key; returns (signature, public key), base64.</summary>
    /// <exception cref="ArgumentException">The key is not a base64 32-byte Ed25519 seed.</exception>
    public static (string Signature, string PublicKey) Sign(ReadOnlySpan<byte> manifest, string privateKey)
    {
        using var key = ImportPrivate(privateKey);
        return (Convert.ToBase64String(Ed25519.Sign(key, manifest)),
            Convert.ToBase64String(key.PublicKey.Export(KeyBlobFormat.RawPublicKey)));
    }

    /// <summary>True when <paramref name="signature"/> (base64) is <paramref name="publicKey"/>'s signature of <paramref name="manifest"/>.</summary>
    public static bool Verify(ReadOnlySpan<byte> manifest, string signature, string publicKey)
    {
        if (!TryBase64(signature, out var sig) || sig.Length != Ed25519.SignatureSize) return false;
        if (!TryBase64(publicKey, out var pub)
            || !PublicKey.TryImport(Ed25519, pub, KeyBlobFormat.RawPublicKey, out var key) || key is null) return false;
        return Ed25519.Verify(key, manifest, sig);
    }

    /// <summary>
    /// The signing key from <paramref name="keyFile"/> (first line, base64) or else <see cref="KeyVariable"/>; null when
    /// neither is given.
    /// </summary>
    public static string? ResolveKey(string? keyFile)
    {
        if (keyFile is not null)
        {
            if (!File.Exists(keyFile)) throw new FileNotFoundException($"signing key file '{keyFile}' does not exist", keyFile);
            return File.ReadLines(keyFile).FirstOrDefault()?.Trim() is { Length: > 0 } k ? k
                : throw new InvalidDataException($"signing key file '{keyFile}' is empty");
        }
        return Environment.GetEnvironmentVariable(KeyVariable) is { Length: > 0 } env ? env.Trim() : null;
    }

    /// <summary>A public key given as base64 or as a file holding it.</summary>
    public static string ReadPublicKey(string valueOrFile) =>
        File.Exists(valueOrFile) ? File.ReadAllText(valueOrFile, Encoding.UTF8).Trim() : valueOrFile.Trim();

    private static Key ImportPrivate(string privateKey)
    {
        if (!TryBase64(privateKey, out var seed) || seed.Length != Ed25519.PrivateKeySize)
            throw new ArgumentException("the signing key is not the base64 of a 32-byte Ed25519 seed", nameof(privateKey));
        return Key.Import(Ed25519, seed, KeyBlobFormat.RawPrivateKey);
    }

    private static bool TryBase64(string text, out byte[] bytes)
    {
        try
        {
            bytes = Convert.FromBase64String(text.Trim());
            return true;
        }
        catch (FormatException)
        {
            bytes = [];
            return false;
        }
    }
}
