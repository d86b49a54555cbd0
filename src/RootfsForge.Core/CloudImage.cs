using RootfsForge.Disks;
using RootfsForge.Ext4;
using RootfsForge.Partitions;

namespace RootfsForge;

/// <summary>
/// A cloud image opened in-process: the disk (raw or qcow2 with its backing chain), its partition table, the chosen root
/// partition and the ext2/3/4 filesystem on it. This is the entry point most callers want:
/// <code>
/// using var image = CloudImage.Open("ubuntu-jammy.cloud.img");
/// await using var sink = SinkFactory.Create("rootfs.tar.zst");
/// await TreeCopy.RunAsync(image.FileSystem, sink);
/// </code>
/// </summary>
public sealed class CloudImage : IDisposable
{
    private readonly List<string> _warnings = [];

    private CloudImage(DiskImage disk, PartitionTable table, Partition root, BlockSource rootDevice, Ext4FileSystem fileSystem)
    {
        Disk = disk;
        PartitionTable = table;
        RootPartition = root;
        RootDevice = rootDevice;
        FileSystem = fileSystem;
    }

    /// <summary>The disk image (its <see cref="DiskImage.Backing"/> chain included).</summary>
    public DiskImage Disk { get; }

    /// <summary>The partition table (scheme <see cref="PartitionScheme.None"/> for a bare filesystem).</summary>
    public PartitionTable PartitionTable { get; }

    /// <summary>The partition holding the root filesystem.</summary>
    public Partition RootPartition { get; }

    /// <summary>The root partition's bytes.</summary>
    public BlockSource RootDevice { get; }

    /// <summary>The root filesystem; it is also the image's <see cref="Tree.ITreeSource"/>.</summary>
    public Ext4FileSystem FileSystem { get; }

    /// <summary>
    /// Warnings of the disk and partition layers (dirty qcow2, backup GPT used, ...); the root filesystem's own (journal not
    /// replayed, skipped entries) are in <see cref="Ext4FileSystem.Warnings"/> of <see cref="FileSystem"/>.
    /// </summary>
    public IReadOnlyList<string> Warnings => _warnings;

    /// <summary>
    /// Opens <paramref name="path"/> (qcow2 or raw), reads its partition table and opens the root filesystem, chosen
    /// automatically (GPT root type, then a <c>cloudimg-rootfs</c>/<c>rootfs</c>/<c>root</c> label, then the largest ext
    /// partition) unless <see cref="CloudImageOptions.PartitionNumber"/> says which.
    /// </summary>
    /// <exception cref="ImageFormatException">The image is corrupt or unsupported; the message says where.</exception>
    public static CloudImage Open(string path, CloudImageOptions? options = null)
    {
        options ??= new CloudImageOptions();
        var disk = DiskImage.Open(path, options.Disk);
        try
        {
            var table = PartitionTable.Read(disk);
            var extOptions = new Ext4Options
            {
                VerifyChecksums = options.VerifyChecksums,
                ReplayJournal = options.ReplayJournal,
            };
            var root = RootPartitionSelector.Select(table, options.PartitionNumber, p => LooksLikeRoot(disk, p));
            var device = root.Open(disk);
            var fs = Ext4FileSystem.Open(device, extOptions);
            var image = new CloudImage(disk, table, root, device, fs);
            image._warnings.AddRange(disk.Warnings);
            image._warnings.AddRange(table.Warnings);
            return image;
        }
        catch (ImageFormatException e) when (e.ImagePath is null)
        {
            disk.Dispose();
            throw e.WithImagePath(path);
        }
        catch
        {
            disk.Dispose();
            throw;
        }
    }

    private static bool LooksLikeRoot(DiskImage disk, Partition partition)
    {
        try
        {
            using var fs = Ext4FileSystem.Open(partition.Open(disk), new Ext4Options { ReplayJournal = false });
            return fs.GetEntry("etc/os-release") is not null || fs.GetEntry("sbin/init") is not null
                || fs.GetEntry("usr/sbin/init") is not null;
        }
        catch (ImageFormatException)
        {
            return false;
        }
    }

    /// <summary>
    /// Resolves <paramref name="path"/> inside the image as the image's own kernel would in a chroot: every symbolic link
    /// followed (absolute targets from the image's root, <c>..</c> never above it, at most
    /// <see cref="Tree.PathResolver.MaxSymlinks"/> links). Returns the resolved path without a leading slash ("" for the
    /// root), or null when it does not exist or a link dangles. A shortcut for <see cref="Ext4FileSystem.ResolvePath"/>.
    /// </summary>
    /// <exception cref="ImageFormatException">A symlink loop (<see cref="ImageErrorKind.Loop"/>), or damage along the path.</exception>
    public string? Resolve(string path) => FileSystem.ResolvePath(path);

    /// <summary>
    /// The entry at <paramref name="path"/>, following symbolic links inside the image (like stat) unless
    /// <paramref name="followSymlinks"/> is false (like lstat); null when absent. See <see cref="Ext4FileSystem.GetEntry(string, bool)"/>.
    /// </summary>
    /// <exception cref="ImageFormatException">A symlink loop, or damage along the path.</exception>
    public Tree.TreeEntry? GetEntry(string path, bool followSymlinks = true) => FileSystem.GetEntry(path, followSymlinks);

    /// <summary>
    /// Opens the regular file at <paramref name="path"/> for reading (seekable, holes read as zeros), following symbolic
    /// links inside the image. Disposing the stream releases the file; the image must stay open while it is read.
    /// </summary>
    /// <exception cref="FileNotFoundException">No such file (or a dangling link).</exception>
    /// <exception cref="IOException">The path is not a regular file.</exception>
    /// <exception cref="ImageFormatException">A symlink loop, or damage along the path or in the file.</exception>
    public Stream OpenRead(string path)
    {
        var content = FileSystem.OpenFile(path);
        return new OwnedContentStream(content);
    }

    /// <summary>Reads the whole file at <paramref name="path"/> as UTF-8 text (a BOM is honoured), following symbolic links.</summary>
    /// <exception cref="FileNotFoundException">No such file (or a dangling link).</exception>
    /// <exception cref="IOException">The path is not a regular file.</exception>
    /// <exception cref="ImageFormatException">A symlink loop, or damage along the path or in the file.</exception>
    public async Task<string> ReadAllTextAsync(string path, CancellationToken cancellationToken = default)
    {
        await using var stream = OpenRead(path);
        using var reader = new StreamReader(stream, System.Text.Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return await reader.ReadToEndAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Closes the filesystem and the image files.</summary>
    public void Dispose()
    {
        FileSystem.Dispose();
        Disk.Dispose();
    }
}

/// <summary>How <see cref="CloudImage.Open"/> reads an image.</summary>
public sealed class CloudImageOptions
{
    /// <summary>The partition to use as root (GPT entry number, MBR 1–4 primary / 5+ logical, 0 for a bare filesystem); null chooses.</summary>
    public int? PartitionNumber { get; init; }

    /// <summary>Verify metadata_csum checksums and fail on a mismatch.</summary>
    public bool VerifyChecksums { get; init; }

    /// <summary>Replay the ext4 journal in memory when the filesystem needs recovery (default true).</summary>
    public bool ReplayJournal { get; init; } = true;

    /// <summary>Disk-layer options (cache size, backing depth).</summary>
    public DiskImageOptions? Disk { get; init; }
}

/// <summary>A file's content stream that also disposes the content (its block map) with the stream.</summary>
internal sealed class OwnedContentStream(Tree.FileContent content) : Stream
{
    private readonly Stream _inner = content.OpenStream();

    public override bool CanRead => true;
    public override bool CanSeek => true;
    public override bool CanWrite => false;
    public override long Length => _inner.Length;

    public override long Position
    {
        get => _inner.Position;
        set => _inner.Position = value;
    }

    public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, count);

    public override int Read(Span<byte> buffer) => _inner.Read(buffer);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        _inner.ReadAsync(buffer, offset, count, cancellationToken);

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        _inner.ReadAsync(buffer, cancellationToken);

    public override long Seek(long offset, SeekOrigin origin) => _inner.Seek(offset, origin);

    public override void Flush()
    {
    }

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _inner.Dispose();
            content.Dispose();
        }
        base.Dispose(disposing);
    }
}
