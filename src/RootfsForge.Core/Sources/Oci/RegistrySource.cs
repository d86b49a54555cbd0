namespace RootfsForge.Sources.Oci;

/// <summary>An image in a registry: manifests fetched and checked, blobs downloaded into the <see cref="BlobCache"/>.</summary>
internal sealed class RegistrySource : ImageSource
{
    private readonly ImageReference _reference;
    private readonly RegistryClient _client;
    private readonly BlobCache _cache;
    private readonly SemaphoreSlim _downloads = new(OciImage.ParallelDownloads);

    public RegistrySource(ImageReference reference, OciImageOptions options)
    {
        _reference = reference;
        var credential = CredentialFiles.FromEnvironment(options.CredentialsFile).Find(reference.Registry!, reference.Repository!);
        _client = new RegistryClient(reference, credential, options.InsecureRegistries);
        _cache = new BlobCache(options.CacheDirectory ?? BlobCache.DefaultRoot());
    }

    /// <summary>Bearer tokens fetched (for tests).</summary>
    internal int TokensFetched => _client.TokensFetched;

    public override async Task<ResolvedImage> ResolveAsync(Platform? platform, CancellationToken cancellationToken)
    {
        string name = _reference.ToString();
        string reference = _reference.Digest ?? _reference.Tag!;
        var (body, mediaType, digestHeader) = await _client.GetManifestAsync(reference, cancellationToken).ConfigureAwait(false);
        var actual = ContentDigest.Of(body);
        if (_reference.Digest is not null && actual.ToString() != _reference.Digest)
            throw new ImageFormatException($"content does not match the digest asked for (got {actual})", $"manifest {_reference.Digest}");
        // By tag the bytes are the truth; a Docker-Content-Digest that disagrees means they were changed in transit.
        if (digestHeader is not null && digestHeader.StartsWith("sha256:", StringComparison.Ordinal) && digestHeader != actual.ToString())
            throw new ImageFormatException($"content ({actual}) does not match the registry's Docker-Content-Digest {digestHeader}", $"manifest {name}");
        var top = ManifestDocument.Parse(body, mediaType, $"manifest {name}");
        return await ResolveFromAsync(top, platform, name, cancellationToken).ConfigureAwait(false);
    }

    protected override async Task<ManifestDocument> ReadManifestAsync(Descriptor descriptor, CancellationToken cancellationToken)
    {
        string what = $"manifest {descriptor.Digest}";
        if (descriptor.Size > ManifestDocument.MaxSize) throw new ImageFormatException($"is larger than {ManifestDocument.MaxSize} bytes", what);
        var (body, mediaType, _) = await _client.GetManifestAsync(descriptor.Digest.ToString(), cancellationToken).ConfigureAwait(false);
        var actual = ContentDigest.Of(body);
        if (actual != descriptor.Digest)
            throw new ImageFormatException($"content does not match its digest (got {actual})", what);
        if (body.Length != descriptor.Size)
            throw new ImageFormatException($"is {body.Length} bytes, its descriptor says {descriptor.Size}", what);
        return ManifestDocument.Parse(body, mediaType ?? descriptor.MediaType, what);
    }

    protected override async Task<byte[]> ReadConfigAsync(Descriptor descriptor, CancellationToken cancellationToken)
    {
        string path = await EnsureBlobAsync(descriptor, _ => { }, cancellationToken).ConfigureAwait(false);
        return await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false);
    }

    public override Task EnsureLayerAsync(LayerDescriptor layer, Action<long> onDownloaded, CancellationToken cancellationToken) =>
        EnsureBlobAsync(ToDescriptor(layer), onDownloaded, cancellationToken);

    public override async Task<Stream> OpenLayerAsync(LayerDescriptor layer, Action<long> onDownloaded, CancellationToken cancellationToken)
    {
        string path = await EnsureBlobAsync(ToDescriptor(layer), onDownloaded, cancellationToken).ConfigureAwait(false);
        return new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.Open, Access = FileAccess.Read, Share = FileShare.Read, Options = FileOptions.SequentialScan | FileOptions.Asynchronous,
            BufferSize = 1 << 16,
        });
    }

    public override async Task<DownloadingBlobStream?> TryOpenLayerWhileDownloadingAsync(LayerDescriptor layer, Action<long> onDownloaded,
        Action onChecked, CancellationToken cancellationToken)
    {
        var blob = ToDescriptor(layer);
        if (_cache.Contains(blob.Digest, blob.Size)) return null;
        var partial = await _cache.OpenPartialAsync(blob.Digest, blob.Size, cancellationToken).ConfigureAwait(false);
        if (partial is null) return null; // another download finished it meanwhile
        if (partial.Length > 0)
        {
            // Resumed bytes may be what is wrong, and only EnsureBlobAsync starts over once when they are.
            partial.Dispose();
            return null;
        }
        return new DownloadingBlobStream(partial, async ct =>
        {
            try
            {
                await DownloadAsync(blob, partial, onDownloaded, ct).ConfigureAwait(false);
            }
            catch (ImageFormatException) when (partial.Resumed)
            {
                // A retry resumed it mid-way, and those bytes may be what is wrong: the reader starts over with
                // EnsureBlobAsync's one fresh attempt, as a download in one go would have.
                throw new BlobRestartedException(blob.Digest);
            }
            onChecked();
        }, cancellationToken);
    }

    /// <summary>The cached blob's path, downloading (or resuming) and checking it first when it is not cached.</summary>
    private async Task<string> EnsureBlobAsync(Descriptor blob, Action<long> onDownloaded, CancellationToken cancellationToken)
    {
        for (int round = 0; ; round++)
        {
            if (_cache.Contains(blob.Digest, blob.Size)) return _cache.PathOf(blob.Digest);
            using var partial = await _cache.OpenPartialAsync(blob.Digest, blob.Size, cancellationToken).ConfigureAwait(false);
            if (partial is null) continue; // another download finished it meanwhile
            try
            {
                await DownloadAsync(blob, partial, onDownloaded, cancellationToken).ConfigureAwait(false);
                return _cache.PathOf(blob.Digest);
            }
            catch (ImageFormatException) when (partial.Resumed && round == 0)
            {
                // Resumed bytes (from an earlier run or request) may be what is wrong: once more from byte 0.
            }
        }
    }

    /// <summary>
    /// Downloads the rest of <paramref name="blob"/> into <paramref name="partial"/> (at most
    /// <see cref="OciImage.ParallelDownloads"/> blobs at once), checks it and commits it to the cache; a blob that fails
    /// its check is deleted.
    /// </summary>
    private async Task DownloadAsync(Descriptor blob, PartialBlob partial, Action<long> onDownloaded, CancellationToken cancellationToken)
    {
        await _downloads.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await _client.DownloadBlobAsync(blob, partial, onDownloaded, cancellationToken).ConfigureAwait(false);
            partial.Commit();
        }
        catch (ImageFormatException)
        {
            partial.Discard();
            throw;
        }
        finally
        {
            _downloads.Release();
        }
    }

    private static Descriptor ToDescriptor(LayerDescriptor layer) =>
        new(layer.MediaType, ContentDigest.Parse(layer.Digest, "layer"), layer.Size, layer.Urls, null,
            new Dictionary<string, string>());

    public override void Dispose() => _client.Dispose();
}
