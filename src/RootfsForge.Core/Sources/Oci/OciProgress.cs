namespace RootfsForge.Sources.Oci;

/// <summary>Download progress of an image's layers.</summary>
/// <param name="LayersDone">Layers verified and available locally (from the cache or downloaded).</param>
/// <param name="LayerCount">Layers of the image.</param>
/// <param name="BytesDone">Bytes of layers available locally, including the part of the layer being downloaded.</param>
/// <param name="BytesTotal">The sum of all layer sizes.</param>
/// <param name="BytesDownloaded">Bytes received from the network by this image so far (0 when all came from the cache).</param>
public readonly record struct OciProgress(int LayersDone, int LayerCount, long BytesDone, long BytesTotal, long BytesDownloaded);
