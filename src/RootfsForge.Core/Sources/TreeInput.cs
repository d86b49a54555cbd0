using RootfsForge.Sources.Directories;
using RootfsForge.Sources.Flist;
using RootfsForge.Sources.Oci;
using RootfsForge.Stores;
using RootfsForge.Tar;
using RootfsForge.Tree;

namespace RootfsForge.Sources;

/// <summary>What an input argument names (see <see cref="TreeInput.KindOf"/>).</summary>
public enum TreeInputKind
{
    /// <summary>A qcow2 or raw disk image, or a bare ext2/3/4 filesystem image (<see cref="CloudImage"/>).</summary>
    DiskImage,

    /// <summary>A tar archive: <c>.tar</c>, <c>.tar.gz</c>/<c>.tgz</c>, <c>.tar.zst</c> (<see cref="TarArchiveSource"/>).</summary>
    Tar,

    /// <summary>A directory tree (<see cref="DirectorySource"/>).</summary>
    Directory,

    /// <summary>An rfs v2 <c>.fl</c> (<see cref="FlistSource"/>; content read from its stores).</summary>
    Flist,

    /// <summary>A container image: <c>docker://…</c>, <c>oci:DIR[:TAG]</c>, <c>docker-archive:FILE</c> (<see cref="OciTreeSource"/>).</summary>
    ContainerImage,
}

/// <summary>Options of <see cref="TreeInput.OpenAsync"/>; each kind of input takes the part that applies to it.</summary>
public sealed record TreeInputOptions
{
    /// <summary>Disk images: partition, checksums, journal replay, where backing files may lie.</summary>
    public CloudImageOptions? DiskImage { get; init; }

    /// <summary>Container images: platform, blob cache, credentials, insecure registries, download progress.</summary>
    public OciImageOptions? ContainerImage { get; init; }

    /// <summary>Container images: where layers are spooled, entry limit, a report per layer applied.</summary>
    public OciTreeSourceOptions? Layers { get; init; }

    /// <summary><c>.fl</c> inputs: the stores to read blocks from; <c>null</c> for the stores the file's routes name.</summary>
    public IReadOnlyList<BlockStoreRoute>? FlistStores { get; init; }
}

/// <summary>
/// The one place that turns an input argument into a tree: a disk image, a tar, a directory, a <c>.fl</c> or a container
/// image reference, each opened with its own source and handed out as one <see cref="ITreeSource"/>. What the input was
/// opened as stays visible (<see cref="Kind"/>, <see cref="DiskImage"/>, <see cref="ContainerImage"/>) for commands that
/// need more than the tree.
/// </summary>
/// <example>
/// <code>
/// await using var input = await TreeInput.OpenAsync("docker://127.0.0.1:5000/debian:12", new TreeInputOptions
/// {
///     ContainerImage = new OciImageOptions { InsecureRegistries = ["127.0.0.1:5000"] },
/// });
/// await using var sink = SinkFactory.Create("rootfs.tar.zst");
/// await TreeCopy.RunAsync(input.Tree, sink);
/// </code>
/// </example>
public sealed class TreeInput : IAsyncDisposable
{
    private static readonly string[] TarExtensions = [".tar", ".tar.gz", ".tgz", ".tar.zst"];

    private readonly IReadOnlyList<string> _openWarnings;
    private readonly Func<ValueTask> _dispose;
    private bool _disposed;

    private TreeInput(TreeInputKind kind, string name, ITreeSource tree, IReadOnlyList<string> openWarnings, Func<ValueTask> dispose)
    {
        Kind = kind;
        Name = name;
        Tree = tree;
        _openWarnings = openWarnings;
        _dispose = dispose;
    }

    /// <summary>What the input was opened as.</summary>
    public TreeInputKind Kind { get; }

    /// <summary>The input as given (a path or a reference).</summary>
    public string Name { get; }

    /// <summary>The tree: walk it once per use (each walk reads the input again).</summary>
    public ITreeSource Tree { get; }

    /// <summary>The disk image, for <see cref="TreeInputKind.DiskImage"/> inputs (owned by this object).</summary>
    public CloudImage? DiskImage { get; private init; }

    /// <summary>The container image, for <see cref="TreeInputKind.ContainerImage"/> inputs (owned by this object).</summary>
    public OciImage? ContainerImage { get; private init; }

    /// <summary>For a disk image, the bytes its filesystem uses (an estimate of the content to copy); else <c>null</c>.</summary>
    public long? ExpectedBytes => DiskImage?.FileSystem.Info.UsedBytes;

    /// <summary>Warnings from opening the input and, so far, from walking it.</summary>
    public IReadOnlyList<string> Warnings => [.. _openWarnings, .. Tree.Warnings];

    /// <summary>
    /// What <paramref name="input"/> names, without opening it: a reference (<see cref="ImageReference.IsReference"/>),
    /// else a directory, a <c>.fl</c>, a tar (by extension), or else a disk image.
    /// </summary>
    /// <exception cref="FileNotFoundException">A local input that does not exist.</exception>
    public static TreeInputKind KindOf(string input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (ImageReference.IsReference(input)) return TreeInputKind.ContainerImage;
        if (Directory.Exists(input)) return TreeInputKind.Directory;
        if (!File.Exists(input)) throw new FileNotFoundException($"{input}: no such file or directory", input);
        if (input.EndsWith(".fl", StringComparison.OrdinalIgnoreCase)) return TreeInputKind.Flist;
        if (TarExtensions.Any(e => input.EndsWith(e, StringComparison.OrdinalIgnoreCase))) return TreeInputKind.Tar;
        return TreeInputKind.DiskImage;
    }

    /// <summary>
    /// Opens <paramref name="input"/> as <see cref="KindOf"/> classifies it. A container image is resolved, its missing
    /// layers downloaded into the blob cache and merged (<see cref="OciTreeSource.OpenAsync"/>); the tree is the image's
    /// root filesystem as is (no <c>/.startup.toml</c>: <see cref="ContainerFlist.Tree"/> adds it).
    /// </summary>
    /// <exception cref="FileNotFoundException">A local input that does not exist.</exception>
    /// <exception cref="FormatException">A malformed image reference.</exception>
    /// <exception cref="ImageFormatException">The input is corrupt or of a kind that is not read.</exception>
    /// <exception cref="RegistryException">A registry refused or could not be reached.</exception>
    public static async Task<TreeInput> OpenAsync(string input, TreeInputOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new TreeInputOptions();
        var kind = KindOf(input);
        switch (kind)
        {
            case TreeInputKind.ContainerImage:
            {
                var image = await OciImage.OpenAsync(ImageReference.Parse(input), options.ContainerImage, cancellationToken).ConfigureAwait(false);
                try
                {
                    var tree = await OciTreeSource.OpenAsync(image, options.Layers, cancellationToken).ConfigureAwait(false);
                    return new TreeInput(kind, input, tree, [], async () =>
                    {
                        await tree.DisposeAsync().ConfigureAwait(false);
                        await image.DisposeAsync().ConfigureAwait(false);
                    }) { ContainerImage = image };
                }
                catch
                {
                    await image.DisposeAsync().ConfigureAwait(false);
                    throw;
                }
            }
            case TreeInputKind.Directory:
                return new TreeInput(kind, input, new DirectorySource(input), [], () => default);
            case TreeInputKind.Flist:
            {
                var fl = FlistSource.Open(input, options.FlistStores);
                return new TreeInput(kind, input, fl, [], fl.DisposeAsync);
            }
            case TreeInputKind.Tar:
            {
                var tar = new TarArchiveSource(input);
                return new TreeInput(kind, input, tar, [], () => { tar.Dispose(); return default; });
            }
            default:
            {
                var disk = CloudImage.Open(input, options.DiskImage);
                return new TreeInput(kind, input, disk.FileSystem, disk.Warnings, () => { disk.Dispose(); return default; }) { DiskImage = disk };
            }
        }
    }

    /// <summary>Closes the input (files, registry connections, layer spool files).</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        await _dispose().ConfigureAwait(false);
    }
}
