using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using RootfsForge.Tar;
using RootfsForge.Tree;

namespace RootfsForge.Sources.Oci;

/// <summary>Options of <see cref="OciTreeSource"/>.</summary>
public sealed record OciTreeSourceOptions
{
    /// <summary>Where decompressed layers are spooled (unlinked at once; default: the system temporary folder).</summary>
    public string? TemporaryDirectory { get; init; }

    /// <summary>The most members of all layers together.</summary>
    public long MaxEntries { get; init; } = TarIndex.DefaultMaxEntries;

    /// <summary>How many layers are decompressed into their spool files at once (default: one per core).</summary>
    public int ParallelDecompressions { get; init; } = Environment.ProcessorCount;

    /// <summary>Receives a report after each layer is applied.</summary>
    public IProgress<OciLayerProgress>? Progress { get; init; }

    /// <summary>
    /// Takes the layers' file contents as they are decompressed (a <c>.fl</c> sink's, see
    /// <see cref="ForSink"/>) instead of their spool files; they read back the same.
    /// </summary>
    internal ContentEncoder? ContentEncoder { get; init; }

    /// <summary>
    /// These options with the contents handed to <paramref name="sink"/> as the layers are decompressed when it encodes
    /// them anyway (a <see cref="Sinks.Flist.FlistSink"/>): its blocks are made while the layers download, and the spool
    /// files keep only the rest of the archives. Any other sink: these options as they are.
    /// </summary>
    public OciTreeSourceOptions ForSink(TreeSink sink) =>
        sink is Sinks.Flist.FlistSink flist ? this with { ContentEncoder = flist.ContentEncoder(TemporaryDirectory) } : this;
}

/// <summary>How far <see cref="OciTreeSource.OpenAsync"/> has come: layers applied of all.</summary>
/// <param name="LayersApplied">Layers merged into the tree so far.</param>
/// <param name="LayerCount">Layers of the image.</param>
/// <param name="Digest">The digest of the layer just applied.</param>
/// <param name="TarBytes">The size of that layer's tar, decompressed.</param>
public readonly record struct OciLayerProgress(int LayersApplied, int LayerCount, string Digest, long TarBytes);

/// <summary>
/// The root filesystem of an OCI image as a container runtime sees it: the image's layers applied in order with the
/// image-spec's rules (whiteouts, opaque directories, replacement, merged directories; names resolved inside the root),
/// without a daemon, root privileges or mounts. Layer contents stay in their decompressed spool files (unlinked at
/// once, so nothing is left behind); memory grows with the number of entries, never with content.
/// </summary>
public sealed class OciTreeSource : ITreeSource, IAsyncDisposable
{
    private readonly TarIndex _index;
    private readonly List<TarArchive> _layers;

    private OciTreeSource(OciImage image, TarIndex index, List<TarArchive> layers)
    {
        Image = image;
        _index = index;
        _layers = layers;
    }

    /// <summary>The image (owned by the caller).</summary>
    public OciImage Image { get; }

    /// <inheritdoc />
    public IReadOnlyList<string> Warnings => _index.Warnings;

    /// <summary>The layers' tar sizes together, decompressed: an upper bound of the tree's content (for progress).</summary>
    public long LayerBytes => _layers.Sum(l => l.Length);

    /// <summary>
    /// Opens every layer of <paramref name="image"/> and merges them. The layers are pipelined: each is downloaded as soon
    /// as a download slot is free (<see cref="OciImage.ParallelDownloads"/> at a time; the blob cache serves what it
    /// has), decompressed into its spool file as soon as a core is free (up to
    /// <see cref="OciTreeSourceOptions.ParallelDecompressions"/> at a time) — following the download as the bytes arrive,
    /// the spool used only once the whole blob passed its digest check — and applied to the tree in order while later
    /// ones are still on their way. The first failure stops the others; its error is the one thrown.
    /// </summary>
    /// <exception cref="ImageFormatException">A layer is corrupt, mismatches its digest or passes a limit.</exception>
    public static async Task<OciTreeSource> OpenAsync(OciImage image, OciTreeSourceOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        options ??= new OciTreeSourceOptions();
        var index = new TarIndex(options.MaxEntries);
        var layers = new List<TarArchive>(image.Layers.Count);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var decompressions = new SemaphoreSlim(Math.Max(1, options.ParallelDecompressions));
        var spools = new Task<TarArchive>[image.Layers.Count];
        for (int i = 0; i < spools.Length; i++)
        {
            spools[i] = SpoolAsync(image, image.Layers[i], options, decompressions, stop.Token);
            // Fail fast: one layer's error stops the downloads and decompressions of the others.
            _ = spools[i].ContinueWith(t => { if (t.IsFaulted) Cancel(stop); }, CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
        try
        {
            for (int i = 0; i < spools.Length; i++)
            {
                var archive = await spools[i].ConfigureAwait(false);
                layers.Add(archive);
                index.ApplyLayer(archive, ociLayer: true, stop.Token);
                options.Progress?.Report(new OciLayerProgress(layers.Count, image.Layers.Count, image.Layers[i].Digest, archive.Length));
            }
            return new OciTreeSource(image, index, layers);
        }
        catch (Exception e)
        {
            Cancel(stop);
            try
            {
                await Task.WhenAll(spools).ConfigureAwait(false);
            }
            catch
            {
                // Each failure is looked at below.
            }
            foreach (var t in spools)
                if (t.IsCompletedSuccessfully && !layers.Contains(t.Result)) t.Result.Dispose();
            foreach (var a in layers) a.Dispose();
            // Waiting on an earlier layer that was stopped because a later one failed: the later one's error is the cause.
            if (e is OperationCanceledException && !cancellationToken.IsCancellationRequested
                && spools.FirstOrDefault(t => t.IsFaulted && t.Exception!.InnerException is not OperationCanceledException) is { } failed)
                ExceptionDispatchInfo.Throw(failed.Exception!.InnerException!);
            throw;
        }
    }

    /// <summary>
    /// One layer decompressed into its spool file, while it downloads when the cache lacks it (the spool is handed out only
    /// once the blob passed its digest check).
    /// </summary>
    private static async Task<TarArchive> SpoolAsync(OciImage image, LayerDescriptor layer, OciTreeSourceOptions options,
        SemaphoreSlim decompressions, CancellationToken cancellationToken)
    {
        await Task.Yield(); // the caller starts every layer before awaiting any
        try
        {
            var (tar, check) = await image.OpenLayerWhileDownloadingAsync(layer, cancellationToken).ConfigureAwait(false);
            return await SpoolAsync(tar, check, layer, options, decompressions, cancellationToken).ConfigureAwait(false);
        }
        catch (BlobRestartedException)
        {
            // The download started over after part of it was decompressed: read it again once it is in the cache.
            var tar = await image.OpenLayerAsync(layer, cancellationToken).ConfigureAwait(false);
            return await SpoolAsync(tar, Task.CompletedTask, layer, options, decompressions, cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task<TarArchive> SpoolAsync(Stream tar, Task check, LayerDescriptor layer, OciTreeSourceOptions options,
        SemaphoreSlim decompressions, CancellationToken cancellationToken)
    {
        TarArchive archive;
        await using (tar) // disposing it before the download ends cancels the download
        {
            ExceptionDispatchInfo? failure = null;
            await decompressions.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                archive = await TarArchive.OpenAsync(tar, $"layer {layer.Digest}", options.TemporaryDirectory, cancellationToken,
                    options.ContentEncoder).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException && !check.IsCompletedSuccessfully)
            {
                failure = ExceptionDispatchInfo.Capture(e);
                archive = null!;
            }
            finally
            {
                decompressions.Release();
            }
            if (failure is not null)
            {
                // Bytes not yet checked did not decompress: if the blob fails its check, that is the cause to report.
                await check.WaitAsync(cancellationToken).ConfigureAwait(false);
                failure.Throw();
            }
            // Waited for before the stream is disposed, which would stop a download the decompressor did not read to its end.
            try
            {
                await check.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                archive.Dispose();
                throw;
            }
        }
        return archive;
    }

    private static void Cancel(CancellationTokenSource stop)
    {
        try
        {
            stop.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<TreeEntry> WalkAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        foreach (var entry in _index.Walk(cancellationToken)) yield return entry;
        await Task.CompletedTask.ConfigureAwait(false);
    }

    /// <summary>Closes the layers' spool files; content readers stop working.</summary>
    public ValueTask DisposeAsync()
    {
        foreach (var a in _layers) a.Dispose();
        _layers.Clear();
        return default;
    }
}
