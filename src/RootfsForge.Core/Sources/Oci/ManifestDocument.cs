using System.Text.Json;

namespace RootfsForge.Sources.Oci;

/// <summary>
/// A parsed manifest or index (image-spec manifest.md / image-index.md; Docker image manifest v2 schema 2 and
/// manifest list): <see cref="Manifests"/> for an index, <see cref="Config"/> and <see cref="Layers"/> for a manifest.
/// </summary>
internal sealed class ManifestDocument
{
    /// <summary>The most bytes a manifest may have (the distribution spec's 4 MiB that registries must accept).</summary>
    public const int MaxSize = 4 << 20;

    private ManifestDocument(string mediaType, ContentDigest digest, IReadOnlyList<Descriptor> manifests,
        Descriptor? config, IReadOnlyList<Descriptor> layers)
    {
        MediaType = mediaType;
        Digest = digest;
        Manifests = manifests;
        Config = config;
        Layers = layers;
    }

    public string MediaType { get; }

    /// <summary>The digest of the manifest's bytes.</summary>
    public ContentDigest Digest { get; }

    public bool IsIndex => MediaTypes.IsIndex(MediaType);

    public IReadOnlyList<Descriptor> Manifests { get; }

    public Descriptor? Config { get; }

    public IReadOnlyList<Descriptor> Layers { get; }

    /// <summary>
    /// Parses manifest bytes. The media type is the document's own <c>mediaType</c> field, else
    /// <paramref name="declaredMediaType"/> (the registry's Content-Type or the referring descriptor's type); when both
    /// name a manifest type they must agree. Schema 1 and unknown types are refused.
    /// </summary>
    public static ManifestDocument Parse(ReadOnlyMemory<byte> bytes, string? declaredMediaType, string structure)
    {
        var digest = ContentDigest.Of(bytes.Span);
        using var doc = JsonRead.Parse(bytes, structure);
        var root = doc.RootElement;
        string? own = JsonRead.String(root, "mediaType", structure);
        string? declared = declaredMediaType?.Split(';')[0].Trim();
        if (declared is MediaTypes.DockerSchema1 or MediaTypes.DockerSchema1Signed || JsonRead.Int64(root, "schemaVersion", structure) == 1)
            throw new UnsupportedImageException("Docker schema 1 manifests are deprecated and not supported; push the image again with a current tool", structure);
        if (own is not null && IsKnown(declared) && own != declared)
            throw new ImageFormatException($"the manifest says it is '{own}' but was served as '{declared}'", structure);
        // image-spec: mediaType SHOULD be set; without it, and without a usable declared type, an object with
        // "manifests" is an index and one with "config" a manifest.
        string mediaType = own ?? (IsKnown(declared) ? declared! : root.TryGetProperty("manifests", out _) ? MediaTypes.OciIndex
            : root.TryGetProperty("config", out _) ? MediaTypes.OciManifest : declared ?? "(none)");
        if (MediaTypes.IsIndex(mediaType))
        {
            var manifests = JsonRead.Array(root, "manifests", structure).Select(e => Descriptor.Read(e, structure)).ToArray();
            return new ManifestDocument(mediaType, digest, manifests, null, []);
        }
        if (MediaTypes.IsManifest(mediaType))
        {
            if (JsonRead.Object(root, "config", structure) is not JsonElement c)
                throw new ImageFormatException("the manifest has no config", structure);
            var layers = JsonRead.Array(root, "layers", structure).Select(e => Descriptor.Read(e, structure)).ToArray();
            return new ManifestDocument(mediaType, digest, [], Descriptor.Read(c, structure), layers);
        }
        throw new UnsupportedImageException(
            $"manifest media type '{mediaType}' is not supported (expected {string.Join(", ", MediaTypes.ManifestAccept)})", structure);
    }

    private static bool IsKnown(string? mediaType) =>
        mediaType is not null && (MediaTypes.IsIndex(mediaType) || MediaTypes.IsManifest(mediaType));
}
