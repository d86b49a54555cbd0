using System.Runtime.CompilerServices;
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

    /// <summary>Receives a report after each layer is applied.</summary>
    public IProgress<OciLayerProgress>? Progress { get; init; }
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

    /// <summary>Opens every layer of <paramref name="image"/> (downloading what the cache lacks) and merges them.</summary>
    /// <exception cref="ImageFormatException">A layer is corrupt, mismatches its digest or passes a limit.</exception>
    public static async Task<OciTreeSource> OpenAsync(OciImage image, OciTreeSourceOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        options ??= new OciTreeSourceOptions();
        await image.DownloadAsync(cancellationToken).ConfigureAwait(false);
        var index = new TarIndex(options.MaxEntries);
        var layers = new List<TarArchive>(image.Layers.Count);
        try
        {
            foreach (var layer in image.Layers)
            {
                TarArchive archive;
                await using (var stream = await image.OpenLayerAsync(layer, cancellationToken).ConfigureAwait(false))
                {
                    archive = await TarArchive.OpenAsync(stream, $"layer {layer.Digest}", options.TemporaryDirectory,
                        cancellationToken).ConfigureAwait(false);
                }
                layers.Add(archive);
                index.ApplyLayer(archive, ociLayer: true, cancellationToken);
                options.Progress?.Report(new OciLayerProgress(layers.Count, image.Layers.Count, layer.Digest, archive.Length));
            }
            return new OciTreeSource(image, index, layers);
        }
        catch
        {
            foreach (var a in layers) a.Dispose();
            throw;
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
