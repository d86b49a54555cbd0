using System.Text.Json;

namespace RootfsForge.Sources.Oci;

/// <summary>An image-spec content descriptor: what a manifest, index or layout says about one blob.</summary>
internal sealed record Descriptor(
    string MediaType,
    ContentDigest Digest,
    long Size,
    IReadOnlyList<string> Urls,
    Platform? Platform,
    IReadOnlyDictionary<string, string> Annotations)
{
    /// <summary>The image-spec annotation naming an image in a layout's index.json (its tag).</summary>
    public const string RefNameAnnotation = "org.opencontainers.image.ref.name";

    public static Descriptor Read(JsonElement e, string structure)
    {
        if (e.ValueKind != JsonValueKind.Object) throw new ImageFormatException("a descriptor is not an object", structure);
        string mediaType = JsonRead.RequiredString(e, "mediaType", structure);
        var digest = ContentDigest.Parse(JsonRead.String(e, "digest", structure), structure);
        long size = JsonRead.Int64(e, "size", structure) ?? throw new ImageFormatException($"descriptor {digest} has no size", structure);
        if (size < 0) throw new ImageFormatException($"descriptor {digest} has a negative size", structure);
        Platform? platform = null;
        if (JsonRead.Object(e, "platform", structure) is JsonElement p)
        {
            platform = new Platform(JsonRead.RequiredString(p, "os", structure), JsonRead.RequiredString(p, "architecture", structure),
                JsonRead.String(p, "variant", structure) is { Length: > 0 } v ? v : null);
        }
        return new Descriptor(mediaType, digest, size, JsonRead.StringArray(e, "urls", structure), platform,
            JsonRead.StringMap(e, "annotations", structure));
    }
}
