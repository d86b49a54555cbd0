using System.Text;

namespace RootfsForge.Definitions;

/// <summary>How a manifest stored in a <c>.fl</c>'s tags stands against a trusted public key.</summary>
public enum ManifestSignatureStatus
{
    /// <summary>No trusted key was given: the signature was not checked.</summary>
    NotChecked,

    /// <summary>The manifest carries a signature that the trusted key verifies.</summary>
    Valid,

    /// <summary>There is no manifest tag at all.</summary>
    NoManifest,

    /// <summary>There is a manifest but no signature tag.</summary>
    Unsigned,

    /// <summary>The signature does not verify with the trusted key (another signer, or a changed manifest).</summary>
    Invalid,
}

/// <summary>The manifest read from a <c>.fl</c>'s tags and its signature's standing.</summary>
/// <param name="Manifest">The parsed manifest; null when there is none (or it is not a manifest, see <paramref name="Problem"/>).</param>
/// <param name="Signature">The signature's standing against the trusted key.</param>
/// <param name="Signer">The base64 public key the file names as its signer (informational: trust comes from the caller's key).</param>
/// <param name="Problem">What is wrong, in one line, when the manifest is missing, unparsable or the signature does not hold.</param>
public sealed record FlistManifestReading(BuildManifest? Manifest, ManifestSignatureStatus Signature, string? Signer, string? Problem);

/// <summary>
/// A <see cref="BuildManifest"/> as <c>.fl</c> tag rows (<see cref="ManifestSignature.ManifestTag"/>, and with a key
/// <see cref="ManifestSignature.SignatureTag"/> and <see cref="ManifestSignature.PublicKeyTag"/>), and back. The
/// signature is over the manifest tag's exact UTF-8 bytes, so reading never re-serializes before verifying.
/// </summary>
public static class FlistManifest
{
    /// <summary>The tag rows for <paramref name="manifest"/>, signed when <paramref name="privateKey"/> (base64 seed) is given.</summary>
    /// <exception cref="ArgumentException">The key is not a base64 32-byte Ed25519 seed.</exception>
    public static IReadOnlyDictionary<string, string> ToTags(BuildManifest manifest, string? privateKey)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        byte[] json = manifest.ToJson(indented: false);
        var tags = new Dictionary<string, string>(StringComparer.Ordinal) { [ManifestSignature.ManifestTag] = Encoding.UTF8.GetString(json) };
        if (privateKey is not null)
        {
            var (signature, publicKey) = ManifestSignature.Sign(json, privateKey);
            tags[ManifestSignature.SignatureTag] = signature;
            tags[ManifestSignature.PublicKeyTag] = publicKey;
        }
        return tags;
    }

    /// <summary>
    /// Reads the manifest from <paramref name="tags"/> and, when <paramref name="trustedPublicKey"/> (base64) is given,
    /// verifies its signature with that key — never with the key the file names.
    /// </summary>
    public static FlistManifestReading Read(IEnumerable<KeyValuePair<string, string>> tags, string? trustedPublicKey)
    {
        ArgumentNullException.ThrowIfNull(tags);
        string? json = null, signature = null, signer = null;
        foreach (var (key, value) in tags)
        {
            // key is the tag table's primary key (docs/flist-format.md), so each name occurs once.
            if (key == ManifestSignature.ManifestTag) json = value;
            else if (key == ManifestSignature.SignatureTag) signature = value;
            else if (key == ManifestSignature.PublicKeyTag) signer = value;
        }
        if (json is null)
            return new(null, trustedPublicKey is null ? ManifestSignatureStatus.NotChecked : ManifestSignatureStatus.NoManifest, signer,
                $"no '{ManifestSignature.ManifestTag}' tag: the flist carries no build manifest");
        byte[] bytes = Encoding.UTF8.GetBytes(json);
        BuildManifest? manifest = null;
        string? problem = null;
        try
        {
            manifest = BuildManifest.Parse(bytes);
        }
        catch (InvalidDataException e)
        {
            problem = $"the '{ManifestSignature.ManifestTag}' tag is {e.Message}";
        }
        if (trustedPublicKey is null) return new(manifest, ManifestSignatureStatus.NotChecked, signer, problem);
        if (signature is null)
            return new(manifest, ManifestSignatureStatus.Unsigned, signer, problem ?? $"the manifest is not signed (no '{ManifestSignature.SignatureTag}' tag)");
        if (!ManifestSignature.Verify(bytes, signature, trustedPublicKey))
        {
            string why = signer is not null && signer.Trim() != trustedPublicKey.Trim()
                ? "the manifest is signed by another key"
                : "the manifest signature does not verify with the given key (the manifest or signature was changed)";
            return new(manifest, ManifestSignatureStatus.Invalid, signer, why);
        }
        return new(manifest, ManifestSignatureStatus.Valid, signer, problem);
    }
}
