namespace RootfsForge.Sources.Oci;

/// <summary>One layer of an image, bottom layer first in <see cref="OciImage.Layers"/>.</summary>
/// <param name="MediaType">The layer's media type (OCI or Docker name).</param>
/// <param name="Digest">The digest of the layer blob as stored (<c>sha256:</c> + hex).</param>
/// <param name="Size">The blob's size in bytes (compressed, when it is compressed).</param>
/// <param name="Compression">How the blob is compressed.</param>
/// <param name="DiffId">The digest of the uncompressed tar from the configuration's <c>rootfs.diff_ids</c>.</param>
/// <param name="Urls">Where a foreign (non-distributable) layer is fetched from; empty for ordinary layers.</param>
public sealed record LayerDescriptor(
    string MediaType,
    string Digest,
    long Size,
    LayerCompression Compression,
    string DiffId,
    IReadOnlyList<string> Urls);
