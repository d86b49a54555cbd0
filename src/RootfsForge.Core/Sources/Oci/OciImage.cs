namespace RootfsForge.Sources.Oci;

/// <summary>
/// A container image opened from a registry (<c>docker://</c>), an OCI layout (<c>oci:</c>) or a docker archive
/// (<c>docker-archive:</c>), resolved to one platform: its configuration and its layers, bottom first. Layers are
/// read with <see cref="OpenLayerAsync"/> as decompressed tar streams; every byte handed out has been checked against
/// its digest first.
/// </summary>
/// <example>
/// <code>
/// await using var image = await OciImage.OpenAsync(ImageReference.Parse("docker://alpine:3.20"));
/// foreach (var layer in image.Layers)
/// {
///     await using var tar = await image.OpenLayerAsync(layer);
///     // apply the tar ...
/// }
/// </code>
/// </example>
public sealed class OciImage : IDisposable, IAsyncDisposable
{
    private readonly ImageSource _source;
    private readonly OciImageOptions _options;
    private readonly ResolvedImage _image;
    private readonly HashSet<string> _layersDone = new(StringComparer.Ordinal);
    private readonly object _progressLock = new();
    private readonly object _reportLock = new();
    private long _bytesDone;
    private long _bytesDownloaded;
    private long _lastReported = long.MinValue;
    private bool _disposed;

    private OciImage(ImageReference reference, ImageSource source, OciImageOptions options, ResolvedImage image)
    {
        Reference = reference;
        _source = source;
        _options = options;
        _image = image;
    }

    /// <summary>
    /// Opens an image: fetches and checks its manifest (choosing <see cref="OciImageOptions.Platform"/> from an index)
    /// and its configuration. Layers are fetched later, by <see cref="DownloadAsync"/> or <see cref="OpenLayerAsync"/>.
    /// </summary>
    /// <exception cref="ImageFormatException">A manifest, config or blob is malformed or does not match its digest.</exception>
    /// <exception cref="UnsupportedImageException">A media type, digest algorithm or platform that is not read.</exception>
    /// <exception cref="RegistryException">The registry refused (authentication, not found) or could not be reached.</exception>
    /// <exception cref="FileNotFoundException">The layout directory or archive does not exist.</exception>
    public static async Task<OciImage> OpenAsync(ImageReference reference, OciImageOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(reference);
        options ??= new OciImageOptions();
        ImageSource source = reference.Transport switch
        {
            ImageTransport.Registry => new RegistrySource(reference, options),
            ImageTransport.OciLayout => new OciLayoutSource(reference),
            _ => new DockerArchiveSource(reference, options),
        };
        try
        {
            var image = await source.ResolveAsync(options.Platform, cancellationToken).ConfigureAwait(false);
            return new OciImage(reference, source, options, image);
        }
        catch
        {
            source.Dispose();
            throw;
        }
    }

    /// <summary>The reference the image was opened from.</summary>
    public ImageReference Reference { get; }

    /// <summary>The digest of the chosen platform's manifest (<c>sha256:…</c>); <c>null</c> for a docker archive, which has none.</summary>
    public string? ManifestDigest => _image.ManifestDigest;

    /// <summary>
    /// The media type of that manifest (<c>application/vnd.oci.image.manifest.v1+json</c> or Docker's
    /// <c>application/vnd.docker.distribution.manifest.v2+json</c>); <c>null</c> for a docker archive.
    /// </summary>
    public string? ManifestMediaType => _image.ManifestMediaType;

    /// <summary>The digest of the index or manifest list the manifest was chosen from, or <c>null</c> for a single-platform image.</summary>
    public string? IndexDigest => _image.IndexDigest;

    /// <summary>The media type of the index or manifest list, or <c>null</c> for a single-platform image.</summary>
    public string? IndexMediaType => _image.IndexMediaType;

    /// <summary>The digest of the configuration blob (the image ID).</summary>
    public string ConfigDigest => _image.ConfigDigest;

    /// <summary>The platform of the image read: the index entry chosen, or the configuration's own.</summary>
    public Platform Platform => _image.Platform;

    /// <summary>Every platform the reference offers (one for a single-platform image).</summary>
    public IReadOnlyList<Platform> Platforms => _image.Platforms;

    /// <summary>The image configuration (entrypoint, command, environment, …).</summary>
    public ImageConfig Config => _image.Config;

    /// <summary>The layers, bottom first.</summary>
    public IReadOnlyList<LayerDescriptor> Layers => _image.Layers;

    /// <summary>
    /// Fetches every layer that is not yet in the blob cache (registry images; checked; up to
    /// <see cref="ParallelDownloads"/> at a time), reporting progress. Local images need nothing: their layers are
    /// checked when opened.
    /// </summary>
    public async Task DownloadAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Report(force: true);
        if (_source is not RegistrySource) return;
        var options = new ParallelOptions { MaxDegreeOfParallelism = ParallelDownloads, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(Layers.DistinctBy(l => l.Digest), options, async (layer, ct) =>
        {
            await _source.EnsureLayerAsync(layer, OnDownloaded, ct).ConfigureAwait(false);
            LayerDone(layer);
        }).ConfigureAwait(false);
    }

    /// <summary>How many blobs of the image download at once, whoever asks for them.</summary>
    public const int ParallelDownloads = 3;

    /// <summary>
    /// Opens one layer's tar, decompressed, downloading and checking the blob first if needed. The caller disposes the
    /// stream. May be called for several layers at once (e.g. to read ahead). Decompression stops with <see cref="ImageFormatException"/> past <see cref="OciImageOptions.MaxLayerExpansion"/>.
    /// </summary>
    /// <param name="layer">One of <see cref="Layers"/>.</param>
    /// <param name="cancellationToken">Cancels the download or check.</param>
    public async Task<Stream> OpenLayerAsync(LayerDescriptor layer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(layer);
        if (!Layers.Contains(layer)) throw new ArgumentException($"layer {layer.Digest} is not a layer of this image", nameof(layer));
        var blob = await _source.OpenLayerAsync(layer, OnDownloaded, cancellationToken).ConfigureAwait(false);
        LayerDone(layer);
        return await DecompressAsync(blob, layer, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// <see cref="OpenLayerAsync"/> without waiting for a download to finish: the tar can be read while the blob arrives,
    /// and <c>Checked</c> completes once the blob passed its digest check (at once when nothing was downloaded). Nothing
    /// read is checked before that: the caller holds back everything made from the tar until <c>Checked</c> succeeded.
    /// When the download had to start over while it was read, the tar's reads or <c>Checked</c> fail with
    /// <see cref="BlobRestartedException"/>: <see cref="OpenLayerAsync"/> then reads the layer.
    /// </summary>
    internal async Task<(Stream Tar, Task Checked)> OpenLayerWhileDownloadingAsync(LayerDescriptor layer, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var blob = await _source.TryOpenLayerWhileDownloadingAsync(layer, OnDownloaded, () => LayerDone(layer), cancellationToken)
            .ConfigureAwait(false);
        if (blob is null) return (await OpenLayerAsync(layer, cancellationToken).ConfigureAwait(false), Task.CompletedTask);
        // Decompressors read 8 KiB at a time; each read of the blob is a system call: 64 KiB at once, as from a cached blob.
        var buffered = new BufferedStream(blob, 1 << 16);
        return (await DecompressAsync(buffered, layer, cancellationToken).ConfigureAwait(false), blob.Completion);
    }

    private async Task<Stream> DecompressAsync(Stream blob, LayerDescriptor layer, CancellationToken cancellationToken)
    {
        try
        {
            return await LayerStream.OpenAsync(blob, layer.Size, _options.MaxLayerExpansion, layer.Digest, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await blob.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Bearer tokens fetched from the registry's token service (for tests).</summary>
    internal int TokensFetched => (_source as RegistrySource)?.TokensFetched ?? 0;

    private void OnDownloaded(long bytes)
    {
        lock (_progressLock)
        {
            _bytesDownloaded += bytes;
            _bytesDone += bytes;
        }
        Report(force: false);
    }

    private void LayerDone(LayerDescriptor layer)
    {
        lock (_progressLock)
        {
            if (!_layersDone.Add(layer.Digest)) return;
            // Count the layer's full size as done, less what was already counted while it downloaded.
            _bytesDone = _layersDone.Sum(d => Layers.First(l => l.Digest == d).Size);
        }
        Report(force: true);
    }

    private void Report(bool force)
    {
        if (_options.Progress is not { } progress) return;
        // Layers finish on several threads: the snapshot and its delivery are serialized so that reports reach the
        // caller in the order they were taken (the last one is the final state), never an older count after a newer.
        lock (_reportLock)
        {
            OciProgress p;
            lock (_progressLock)
            {
                if (!force && _bytesDownloaded - _lastReported < (1 << 20)) return;
                _lastReported = _bytesDownloaded;
                p = new OciProgress(_layersDone.Count, Layers.Count, _bytesDone, Layers.Sum(l => l.Size), _bytesDownloaded);
            }
            progress.Report(p);
        }
    }

    /// <summary>Releases the registry connection and open files. Layer streams already handed out stay readable.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _source.Dispose();
    }

    /// <inheritdoc cref="Dispose"/>
    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }
}
