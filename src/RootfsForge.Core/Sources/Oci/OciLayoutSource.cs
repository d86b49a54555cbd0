namespace RootfsForge.Sources.Oci;

/// <summary>
/// An OCI image layout directory (image-spec image-layout.md): <c>oci-layout</c>, <c>index.json</c>,
/// <c>blobs/sha256/HEX</c>. The image is the <c>index.json</c> entry whose <c>org.opencontainers.image.ref.name</c> is
/// the tag (or the only entry when no tag is given); entries sharing a name are chosen among by platform. Blobs are
/// read in place, each checked against its digest through the same open handle that then serves it.
/// </summary>
internal sealed class OciLayoutSource : ImageSource
{
    private readonly ImageReference _reference;
    private readonly string _root;

    public OciLayoutSource(ImageReference reference)
    {
        _reference = reference;
        _root = Path.GetFullPath(reference.Path!);
    }

    public override async Task<ResolvedImage> ResolveAsync(Platform? platform, CancellationToken cancellationToken)
    {
        string name = _reference.ToString();
        if (!Directory.Exists(_root)) throw new DirectoryNotFoundException($"{name}: directory {_root} does not exist");
        string layoutFile = Path.Combine(_root, "oci-layout");
        if (!File.Exists(layoutFile)) throw new ImageFormatException("not an OCI image layout: it has no oci-layout file", _root);
        using (var layoutDoc = JsonRead.Parse(await File.ReadAllBytesAsync(layoutFile, cancellationToken).ConfigureAwait(false), layoutFile))
        {
            string version = JsonRead.RequiredString(layoutDoc.RootElement, "imageLayoutVersion", layoutFile);
            if (!version.StartsWith("1.", StringComparison.Ordinal))
                throw new UnsupportedImageException($"image layout version {version} is not supported (1.x)", layoutFile);
        }
        string indexFile = Path.Combine(_root, "index.json");
        if (!File.Exists(indexFile)) throw new ImageFormatException("not an OCI image layout: it has no index.json", _root);
        var indexBytes = await ReadLimitedAsync(indexFile, ManifestDocument.MaxSize, cancellationToken).ConfigureAwait(false);
        var index = ManifestDocument.Parse(indexBytes, MediaTypes.OciIndex, indexFile);
        if (!index.IsIndex) throw new ImageFormatException("index.json is not an image index", indexFile);

        var named = _reference.Tag is null
            ? index.Manifests
            : index.Manifests.Where(m => m.Annotations.TryGetValue(Descriptor.RefNameAnnotation, out var n) && n == _reference.Tag).ToArray();
        if (named.Count == 0 || (_reference.Tag is null && named.Count > 1))
        {
            var names = index.Manifests.Select(m => m.Annotations.GetValueOrDefault(Descriptor.RefNameAnnotation)).OfType<string>().Distinct().ToArray();
            string have = names.Length == 0 ? "no named images" : "images named " + string.Join(", ", names);
            throw new ImageFormatException(_reference.Tag is null
                ? $"index.json lists {index.Manifests.Count} images; name one with oci:DIR:NAME ({have})"
                : $"index.json has no image named '{_reference.Tag}' ({have})", indexFile);
        }
        ManifestDocument top;
        if (named.Count == 1)
        {
            top = await ReadManifestAsync(named[0], cancellationToken).ConfigureAwait(false);
        }
        else
        {
            // Several entries share the name (one per platform): choose among them as in an index.
            var entry = PickPlatform(named, indexFile, platform ?? Platform.Default, name, out var listed);
            var resolved = await ResolveFromAsync(await ReadManifestAsync(entry, cancellationToken).ConfigureAwait(false), platform, name, cancellationToken)
                .ConfigureAwait(false);
            return resolved with { Platform = entry.Platform ?? resolved.Platform, Platforms = listed };
        }
        return await ResolveFromAsync(top, platform, name, cancellationToken).ConfigureAwait(false);
    }

    protected override async Task<ManifestDocument> ReadManifestAsync(Descriptor descriptor, CancellationToken cancellationToken)
    {
        var bytes = await ReadBlobAsync(descriptor, ManifestDocument.MaxSize, cancellationToken).ConfigureAwait(false);
        return ManifestDocument.Parse(bytes, descriptor.MediaType, $"manifest {descriptor.Digest}");
    }

    protected override Task<byte[]> ReadConfigAsync(Descriptor descriptor, CancellationToken cancellationToken) =>
        ReadBlobAsync(descriptor, MaxConfigSize, cancellationToken);

    public override async Task<Stream> OpenLayerAsync(LayerDescriptor layer, Action<long> onDownloaded, CancellationToken cancellationToken)
    {
        var digest = ContentDigest.Parse(layer.Digest, "layer");
        if (MediaTypes.IsForeignLayer(layer.MediaType) && !File.Exists(BlobPath(digest)))
            throw new UnsupportedImageException("is a foreign (non-distributable) layer that the layout does not hold", $"layer {digest}");
        return await OpenCheckedAsync(digest, layer.Size, cancellationToken).ConfigureAwait(false);
    }

    private string BlobPath(ContentDigest digest) => Path.Combine(_root, "blobs", "sha256", digest.Hex);

    private async Task<byte[]> ReadBlobAsync(Descriptor descriptor, long limit, CancellationToken cancellationToken)
    {
        if (descriptor.Size > limit) throw new ImageFormatException($"is larger than {limit} bytes", $"blob {descriptor.Digest}");
        using var stream = await OpenCheckedAsync(descriptor.Digest, descriptor.Size, cancellationToken).ConfigureAwait(false);
        var bytes = new byte[descriptor.Size];
        await stream.ReadExactlyAsync(bytes, cancellationToken).ConfigureAwait(false);
        return bytes;
    }

    /// <summary>Opens a blob file, checks its size and digest, and returns a stream over the same handle at 0.</summary>
    private async Task<FileRangeStream> OpenCheckedAsync(ContentDigest digest, long size, CancellationToken cancellationToken)
    {
        string path = BlobPath(digest);
        string what = $"blob {digest}";
        if (!File.Exists(path)) throw new ImageFormatException($"is missing from the layout ({path})", what);
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.Asynchronous);
        var stream = new FileRangeStream(handle, 0, RandomAccess.GetLength(handle));
        try
        {
            if (stream.Length != size) throw new ImageFormatException($"is {stream.Length} bytes, its descriptor says {size}", what);
            var actual = await stream.HashAsync(cancellationToken).ConfigureAwait(false);
            if (actual != digest) throw new ImageFormatException($"content does not match its digest (got {actual})", what);
            return stream;
        }
        catch
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static async Task<byte[]> ReadLimitedAsync(string path, int limit, CancellationToken cancellationToken)
    {
        var info = new FileInfo(path);
        if (info.Length > limit) throw new ImageFormatException($"is larger than {limit} bytes", path);
        return await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
    }
}
