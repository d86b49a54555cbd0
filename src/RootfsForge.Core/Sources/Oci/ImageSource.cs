namespace RootfsForge.Sources.Oci;

/// <summary>What a source resolved a reference to: one platform's manifest, its configuration and layers.</summary>
internal sealed record ResolvedImage(
    string? ManifestDigest,
    string? ManifestMediaType,
    string? IndexDigest,
    string? IndexMediaType,
    Platform Platform,
    IReadOnlyList<Platform> Platforms,
    ImageConfig Config,
    string ConfigDigest,
    IReadOnlyList<LayerDescriptor> Layers);

/// <summary>
/// Where an image's manifests and blobs come from (a registry, an OCI layout, a docker archive). Resolves a reference
/// to one platform's image and hands out layer blobs only after they were checked against their digests.
/// </summary>
internal abstract class ImageSource : IDisposable
{
    /// <summary>The largest configuration blob read.</summary>
    protected const long MaxConfigSize = 16 << 20;
    private const int MaxIndexDepth = 4;

    public abstract Task<ResolvedImage> ResolveAsync(Platform? platform, CancellationToken cancellationToken);

    /// <summary>Makes the layer available locally and verified (a download into the cache); nothing for local sources.</summary>
    public virtual Task EnsureLayerAsync(LayerDescriptor layer, Action<long> onDownloaded, CancellationToken cancellationToken) =>
        Task.CompletedTask;

    /// <summary>
    /// Opens the layer blob as stored (compressed) while it downloads into the cache, or returns null when there is
    /// nothing to download (a local source, a cached blob) or the download resumes earlier bytes: then
    /// <see cref="OpenLayerAsync"/>. Nothing read is checked before the stream's <see cref="DownloadingBlobStream.Completion"/>;
    /// <paramref name="onChecked"/> is called once the blob passed its check.
    /// </summary>
    public virtual Task<DownloadingBlobStream?> TryOpenLayerWhileDownloadingAsync(LayerDescriptor layer, Action<long> onDownloaded,
        Action onChecked, CancellationToken cancellationToken) => Task.FromResult<DownloadingBlobStream?>(null);

    /// <summary>Opens the layer blob as stored (compressed), after checking it; the stream reads only checked bytes.</summary>
    public abstract Task<Stream> OpenLayerAsync(LayerDescriptor layer, Action<long> onDownloaded, CancellationToken cancellationToken);

    /// <summary>Reads a manifest or index that a descriptor points to, checked against its digest and size.</summary>
    protected abstract Task<ManifestDocument> ReadManifestAsync(Descriptor descriptor, CancellationToken cancellationToken);

    /// <summary>Reads a configuration blob, checked against its digest and size.</summary>
    protected abstract Task<byte[]> ReadConfigAsync(Descriptor descriptor, CancellationToken cancellationToken);

    public virtual void Dispose()
    {
    }

    /// <summary>
    /// From a top-level manifest or index to one platform's image: an index picks the first entry whose platform
    /// matches (nested indexes are followed), then the manifest's config and layers are read and checked.
    /// </summary>
    protected async Task<ResolvedImage> ResolveFromAsync(ManifestDocument top, Platform? requested, string name, CancellationToken cancellationToken)
    {
        var document = top;
        string? indexDigest = null, indexMediaType = null;
        IReadOnlyList<Platform>? platforms = null;
        Platform? chosen = null;
        for (int depth = 0; document.IsIndex; depth++)
        {
            if (depth >= MaxIndexDepth) throw new ImageFormatException($"indexes are nested more than {MaxIndexDepth} deep", name);
            indexDigest ??= document.Digest.ToString();
            indexMediaType ??= document.MediaType;
            var entry = PickPlatform(document.Manifests, $"index {document.Digest}", requested ?? Platform.Default, name, out var listed);
            platforms ??= listed;
            chosen = entry.Platform;
            document = await ReadManifestAsync(entry, cancellationToken).ConfigureAwait(false);
        }

        var configDescriptor = document.Config!;
        string manifestName = $"manifest {document.Digest}";
        if (configDescriptor.MediaType is not (MediaTypes.OciConfig or MediaTypes.DockerConfig))
            throw new UnsupportedImageException($"its config is '{configDescriptor.MediaType}': this is not a container image (an OCI artifact?)", manifestName);
        if (configDescriptor.Size > MaxConfigSize)
            throw new ImageFormatException($"its config is {configDescriptor.Size} bytes, more than {MaxConfigSize}", manifestName);
        var configBytes = await ReadConfigAsync(configDescriptor, cancellationToken).ConfigureAwait(false);
        var config = ImageConfig.Parse(configBytes, $"config {configDescriptor.Digest}");
        if (config.DiffIds.Count != document.Layers.Count)
            throw new ImageFormatException($"it has {document.Layers.Count} layers but its config lists {config.DiffIds.Count} diff_ids", manifestName);

        var layers = new LayerDescriptor[document.Layers.Count];
        for (int i = 0; i < layers.Length; i++)
        {
            var l = document.Layers[i];
            var compression = MediaTypes.LayerCompressionOf(l.MediaType)
                ?? throw new UnsupportedImageException($"layer {i} ({l.Digest}) has media type '{l.MediaType}', which is not a tar layer (plain, gzip or zstd)", manifestName);
            layers[i] = new LayerDescriptor(l.MediaType, l.Digest.ToString(), l.Size, compression, config.DiffIds[i], l.Urls);
        }

        var configPlatform = new Platform(config.Os, config.Architecture, config.Variant);
        if (chosen is null && requested is not null && config.Os.Length > 0 && !requested.Matches(configPlatform))
            throw new UnsupportedImageException($"{name} is a single-platform image for {configPlatform}, not {requested}", manifestName);
        return new ResolvedImage(document.Digest.ToString(), document.MediaType, indexDigest, indexMediaType, chosen ?? configPlatform, platforms ?? [configPlatform], config,
            configDescriptor.Digest.ToString(), layers);
    }

    /// <summary>The index entry for <paramref name="platform"/>; an index whose entries carry no platform must hold exactly one.</summary>
    internal static Descriptor PickPlatform(IReadOnlyList<Descriptor> manifests, string structure, Platform platform, string name,
        out IReadOnlyList<Platform> listed)
    {
        var entries = manifests.Where(m => MediaTypes.IsManifest(m.MediaType) || MediaTypes.IsIndex(m.MediaType)).ToArray();
        // BuildKit's attestation manifests are listed as unknown/unknown: not an image anyone asks for.
        listed = entries.Select(e => e.Platform).OfType<Platform>().Where(p => p.Os != "unknown").Distinct().ToArray();
        if (entries.Length == 0) throw new ImageFormatException("the index lists no image manifests", structure);
        if (entries.All(e => e.Platform is null))
        {
            if (entries.Length == 1) return entries[0];
            throw new ImageFormatException($"the index lists {entries.Length} manifests without platforms; cannot choose", structure);
        }
        return entries.FirstOrDefault(e => e.Platform is { } p && platform.Matches(p))
            ?? throw new UnsupportedImageException(
                $"{name} has no image for {platform}; it has: {string.Join(", ", listed.Select(p => p.ToString()))}", structure);
    }
}
