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
public sealed record FlistManifestReading(BuildManifest? Manifest, ManifestSignatureStatus Signature, string? Signer, string? Problem)
{
    /// <summary>
    /// Whether the tree digest recorded with the manifest (<see cref="ManifestSignature.TreeTag"/>) is the flist's own:
    /// false when the flist was changed or the tags were copied from another one; null when none is recorded.
    /// </summary>
    public bool? TreeMatches { get; init; }
}

/// <summary>
/// A <see cref="BuildManifest"/> as <c>.fl</c> tag rows (<see cref="ManifestSignature.ManifestTag"/>, <see
/// cref="ManifestSignature.TreeTag"/>, and with a key <see cref="ManifestSignature.SignatureTag"/> and <see
/// cref="ManifestSignature.PublicKeyTag"/>), and back: the one place a build's tags are made. The signature is over
/// <see cref="ManifestSignature.Message"/> of the manifest tag's exact UTF-8 bytes and the flist's tree digest, so
/// reading never re-serializes before verifying, and a signature moved to another flist does not verify.
/// </summary>
public static class FlistManifest
{
    /// <summary>
    /// The tag rows of a build: the definition's metadata (<c>description</c>, <c>version</c>, <c>author</c>, when given),
    /// the manifest, the tree digest it was written for (<paramref name="treeDigest"/>, see <see
    /// cref="RootfsForge.Flist.FlistTreeDigest"/>), and the signature when <paramref name="privateKey"/> (base64 seed) is given.
    /// </summary>
    /// <exception cref="ArgumentException">The key is not a base64 32-byte Ed25519 seed.</exception>
    public static IReadOnlyDictionary<string, string> ToTags(BuildManifest manifest, string treeDigest, string? privateKey,
        DefinitionMetadata? metadata = null)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(treeDigest);
        var tags = new Dictionary<string, string>(StringComparer.Ordinal);
        if (metadata?.Description is { } description) tags["description"] = description;
        if (metadata?.Version is { } version) tags["version"] = version;
        if (metadata?.Maintainer is { } author) tags["author"] = author;
        byte[] json = manifest.ToJson(indented: false);
        tags[ManifestSignature.ManifestTag] = Encoding.UTF8.GetString(json);
        tags[ManifestSignature.TreeTag] = treeDigest;
        if (privateKey is not null)
        {
            var (signature, publicKey) = ManifestSignature.Sign(ManifestSignature.Message(json, treeDigest), privateKey);
            tags[ManifestSignature.SignatureTag] = signature;
            tags[ManifestSignature.PublicKeyTag] = publicKey;
        }
        return tags;
    }

    /// <summary>
    /// Reads the manifest from <paramref name="tags"/> and, when <paramref name="trustedPublicKey"/> (base64) is given,
    /// verifies its signature with that key — never with the key the file names — over the manifest and
    /// <paramref name="treeDigest"/>, the digest of the flist the tags were read from (<see
    /// cref="RootfsForge.Flist.FlistTreeDigest.Of"/>): computed by the caller, never taken from the tags.
    /// </summary>
    public static FlistManifestReading Read(IEnumerable<KeyValuePair<string, string>> tags, string? trustedPublicKey, string treeDigest)
    {
        ArgumentNullException.ThrowIfNull(tags);
        ArgumentNullException.ThrowIfNull(treeDigest);
        string? json = null, signature = null, signer = null, tree = null;
        foreach (var (key, value) in tags)
        {
            // key is the tag table's primary key (docs/flist-format.md), so each name occurs once.
            if (key == ManifestSignature.ManifestTag) json = value;
            else if (key == ManifestSignature.SignatureTag) signature = value;
            else if (key == ManifestSignature.PublicKeyTag) signer = value;
            else if (key == ManifestSignature.TreeTag) tree = value;
        }
        if (json is null)
            return new(null, trustedPublicKey is null ? ManifestSignatureStatus.NotChecked : ManifestSignatureStatus.NoManifest, signer,
                $"no '{ManifestSignature.ManifestTag}' tag: the flist carries no build manifest");
        bool? treeMatches = tree is null ? null : tree == treeDigest;
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
        if (trustedPublicKey is null) return new(manifest, ManifestSignatureStatus.NotChecked, signer, problem) { TreeMatches = treeMatches };
        if (signature is null)
            return new(manifest, ManifestSignatureStatus.Unsigned, signer, problem ?? $"the manifest is not signed (no '{ManifestSignature.SignatureTag}' tag)")
            {
                TreeMatches = treeMatches,
            };
        if (!ManifestSignature.Verify(ManifestSignature.Message(bytes, treeDigest), signature, trustedPublicKey))
        {
            string why = signer is not null && signer.Trim() != trustedPublicKey.Trim()
                ? "the manifest is signed by another key"
                : tree is not null && tree != treeDigest
                    ? $"the manifest was signed for another tree ({tree}) than this flist's ({treeDigest}): the tags were moved or the flist was changed"
                    : "the manifest signature does not verify with the given key (the manifest, the flist's tree or the signature was changed)";
            return new(manifest, ManifestSignatureStatus.Invalid, signer, why) { TreeMatches = treeMatches };
        }
        return new(manifest, ManifestSignatureStatus.Valid, signer, problem) { TreeMatches = treeMatches };
    }
}
