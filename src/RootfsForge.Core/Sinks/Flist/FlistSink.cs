using System.Buffers;
using RootfsForge.Flist;
using RootfsForge.Stores;
using RootfsForge.Tree;

namespace RootfsForge.Sinks.Flist;

/// <summary>
/// Writes an rfs v2 <c>.fl</c> (docs/flist-format.md §1–§2) and puts every file's encrypted 512 KiB blocks
/// (docs/flist-format.md §3) into the block stores. Chunks are encoded on all cores (<see cref="ChunkEncoder"/>) and
/// uploaded concurrently (<see cref="BlockUploader"/>); a block already in a store is not written again, identical
/// chunks within one build are stored once, and holes cost no reading. The file appears only when <see
/// cref="CompleteAsync"/> succeeds.
/// </summary>
/// <remarks>
/// Not representable in a <c>.fl</c> and reported instead: xattrs (counted, <c>security.capability</c> warned by path),
/// sockets (skipped and counted), names that are not UTF-8 (skipped with their subtree, warned).
/// Hard links become separate inode rows with the same blocks. Block rows are written file by file in the order the
/// files arrive, at points fixed by the input (<see cref="DrainLag"/>), so the same tree gives the same <c>.fl</c> bytes.
/// </remarks>
public sealed class FlistSink : TreeSink
{
    /// <summary>
    /// How many files may wait for their blocks before the oldest one's block rows must be written. Rows are written at
    /// points that depend only on the input (before the inode of the file this many places later), never on how fast
    /// the workers were, so the same tree gives the same <c>.fl</c> bytes.
    /// </summary>
    private const int DrainLag = 64;

    private readonly FlistSinkOptions _options;
    private readonly BlockRouter _router;
    private readonly FlistFileWriter _writer;
    private readonly FlistCounters _blocks = new();
    private readonly BlockUploader _uploader;
    private readonly BlockIdIndex _index;
    private readonly ChunkEncoder _encoder;
    private readonly Queue<PendingFile> _pending = new();
    private readonly Dictionary<string, long> _directories = new(StringComparer.Ordinal);
    private readonly Dictionary<string, LinkTarget> _linkTargets = new(StringComparer.Ordinal);
    private BlockSpool? _spool;
    private bool _completed, _aborted;

    /// <summary>Creates the sink; the output appears at <paramref name="path"/> only when <see cref="CompleteAsync"/> succeeds.</summary>
    /// <exception cref="ArgumentException">No store, a block id byte no store covers, or a read-only store.</exception>
    public FlistSink(string path, FlistSinkOptions options)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(options);
        ValidateStores(options.Stores);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxBlocksPerFile, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.MaxBlocksPerFile, int.MaxValue);
        _options = options;
        _router = new BlockRouter(options.Stores);
        _index = options.BlockIndexPath is { } indexPath ? BlockIdIndex.Open(indexPath) : BlockIdIndex.InMemory();
        try
        {
            _writer = new FlistFileWriter(path);
        }
        catch
        {
            _index.Dispose();
            throw;
        }
        _uploader = new BlockUploader(_router, options.MaxUploadsInFlight, _blocks);
        _encoder = new ChunkEncoder(options.Parallelism, _uploader, _index, _blocks);
    }

    /// <summary>
    /// Checks that <paramref name="stores"/> can take a build: at least one, every first byte of a block id covered,
    /// none read-only. Callers validating options before any work use it too.
    /// </summary>
    /// <exception cref="ArgumentException">They cannot.</exception>
    internal static void ValidateStores(IReadOnlyList<BlockStoreRoute> stores)
    {
        ArgumentNullException.ThrowIfNull(stores);
        if (stores.Count == 0) throw new ArgumentException("a .fl needs at least one block store", nameof(stores));
        for (int b = 0; b < 256; b++)
        {
            if (!stores.Any(r => r.Covers((byte)b)))
                throw new ArgumentException($"no store covers block ids starting with {b:x2} (routes must cover 00-ff)", nameof(stores));
        }
        foreach (var r in stores)
            if (r.Store.IsReadOnly) throw new ArgumentException($"store {r.Store.Url} is read-only", nameof(stores));
    }

    /// <summary>
    /// The encoder a source opened for this sink hands its contents to as it reads them (<see cref="BlockSpool"/>); the sink
    /// then stores their blocks as they are. One per sink; <paramref name="temporaryDirectory"/> (null: the system's) is
    /// where its blocks wait, the first call's.
    /// </summary>
    internal ContentEncoder ContentEncoder(string? temporaryDirectory)
    {
        ObjectDisposedException.ThrowIf(_completed || _aborted, this);
        return _spool ??= new BlockSpool(temporaryDirectory, _options.Parallelism, _index);
    }

    /// <summary>Block, byte and deduplication counters: a snapshot.</summary>
    public FlistStatistics Blocks => _blocks.Snapshot();

    /// <inheritdoc />
    public override async ValueTask AddAsync(TreeEntry entry, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ObjectDisposedException.ThrowIf(_completed || _aborted, this);
        cancellationToken.ThrowIfCancellationRequested();
        if (entry.Path.Length == 0)
        {
            if (_directories.ContainsKey("")) throw new InvalidOperationException("the root was added twice");
            InsertRoot(entry);
            return;
        }
        if (!_directories.ContainsKey("")) InsertRoot(null);
        TreePath.Validate(entry.Path);

        string parentPath = TreePath.GetParent(entry.Path);
        string name = TreePath.GetName(entry.Path);
        if (!_directories.TryGetValue(parentPath, out long parent)) return; // parent skipped and already reported
        if (FileNameEncoding.HasEscapes(name))
        {
            Counters.Warn($"{entry.Path}: name is not UTF-8; a .fl cannot hold it (skipped)");
            return;
        }
        if (entry.ExtendedAttributes.Count > 0)
        {
            Counters.CountDroppedAttributes(entry.ExtendedAttributes.Count);
            if (entry.ExtendedAttributes.Any(x => x.Name == "security.capability"))
                Counters.Warn($"{entry.Path}: file capabilities (security.capability) dropped; a .fl cannot hold them");
        }

        long mtime = Seconds(entry.ModificationTime);
        long perms = entry.Permissions & 0xFFF;
        switch (entry.Type)
        {
            case EntryType.Directory:
                _directories[entry.Path] = _writer.AddInode(parent, name, FlistSchema.DirectorySize, entry.Uid, entry.Gid,
                    FileTypeBits.Directory | perms, 0, mtime);
                break;
            case EntryType.RegularFile:
                await AddRegularFileAsync(entry, parent, name, perms, mtime, cancellationToken).ConfigureAwait(false);
                break;
            case EntryType.HardLink:
                AddHardLink(entry, parent, name, perms, mtime);
                return;
            case EntryType.SymbolicLink:
                AddSymlink(entry, parent, name, mtime);
                break;
            case EntryType.CharacterDevice:
            case EntryType.BlockDevice:
            case EntryType.Fifo:
            {
                long type = FileTypeBits.Of(entry.Type);
                long rdev = entry.Type == EntryType.Fifo ? 0 : (long)LinuxDeviceNumber.Make(entry.DeviceMajor, entry.DeviceMinor);
                _writer.AddInode(parent, name, 0, entry.Uid, entry.Gid, type | perms, rdev, mtime);
                _linkTargets[entry.Path] = new LinkTarget(type | perms, rdev, null);
                break;
            }
            case EntryType.Socket:
                Counters.CountSkippedSocket();
                return;
            default:
                throw new ArgumentException($"{entry.Path}: unknown entry type {entry.Type}", nameof(entry));
        }
        Counters.CountEntry();
    }

    private void InsertRoot(TreeEntry? root)
    {
        long perms = root is null ? 0x1ED : root.Permissions & 0xFFF;
        long ino = _writer.AddInode(0, "/", FlistSchema.DirectorySize, root?.Uid ?? 0, root?.Gid ?? 0,
            FileTypeBits.Directory | perms, 0, root is null ? 0 : Seconds(root.ModificationTime));
        _directories[""] = ino;
        if (root is not null) Counters.CountEntry();
    }

    private void AddSymlink(TreeEntry entry, long parent, string name, long mtime)
    {
        // As the kernel reads it (up to the first NUL), like the tar and directory sinks.
        var text = SymlinkTarget.AsKernelReadsIt(entry.LinkTarget, out bool truncated);
        if (text.Length == 0)
            Counters.Warn($"'{entry.Path}': symlink with empty target kept; a mount shows it as it is");
        else if (truncated)
            Counters.Warn(SymlinkTarget.TruncatedWarning(entry.Path));
        byte[] target = FileNameEncoding.GetBytes(text);
        long ino = _writer.AddInode(parent, name, target.Length, entry.Uid, entry.Gid, FileTypeBits.Symlink | 0x1FF, 0, mtime);
        _writer.AddExtra(ino, target);
    }

    private async ValueTask AddRegularFileAsync(TreeEntry entry, long parent, string name, long perms, long mtime,
        CancellationToken cancellationToken)
    {
        var content = new SharedContent(entry.OpenContent?.Invoke() ?? FileContent.FromBytes(ReadOnlyMemory<byte>.Empty), entry.Path);
        try
        {
            await AddRegularFileAsync(entry, content, parent, name, perms, mtime, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            content.Release();
        }
    }

    private async ValueTask AddRegularFileAsync(TreeEntry entry, SharedContent shared, long parent, string name, long perms,
        long mtime, CancellationToken cancellationToken)
    {
        var content = shared.Content;
        long length = content.Length;
        if (length < 0)
            throw new ImageFormatException($"'{entry.Path}' has a negative size {length}", "file content");
        // A .fl has no holes (docs/flist-format.md §2.5): every chunk of the apparent size is a block row.
        long count = length / FlistBlock.ChunkSize + (length % FlistBlock.ChunkSize == 0 ? 0 : 1);
        if (count > _options.MaxBlocksPerFile)
            throw new ImageFormatException(
                $"'{entry.Path}' has an apparent size of {length} bytes: {count} block rows, more than the limit of " +
                $"{_options.MaxBlocksPerFile} ({_options.MaxBlocksPerFile * FlistBlock.ChunkSize} bytes) a .fl file may take",
                "file content", kind: ImageErrorKind.LimitExceeded);
        while (_pending.Count >= DrainLag) await DrainOldestAsync(cancellationToken).ConfigureAwait(false);
        long ino = _writer.AddInode(parent, name, length, entry.Uid, entry.Gid, FileTypeBits.Regular | perms, 0, mtime);
        Interlocked.Increment(ref _blocks.Files);
        var file = new PendingFile(ino, (int)count, length);
        _linkTargets[entry.Path] = new LinkTarget(FileTypeBits.Regular | perms, 0, file);
        _pending.Enqueue(file);
        if (count == 0) return;
        if (content.Encoded is SpooledContent spooled && _spool is not null && spooled.Spool == _spool && spooled.Length == length)
        {
            await AddSpooledAsync(file, spooled, cancellationToken).ConfigureAwait(false);
            return;
        }

        var segments = content.GetDataSegments();
        content.Prefetch(0, length);
        int segment = 0;
        for (int i = 0; i < count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            long offset = (long)i * FlistBlock.ChunkSize;
            int n = (int)Math.Min(FlistBlock.ChunkSize, length - offset);
            while (segment < segments.Count && segments[segment].End <= offset) segment++;
            if (segment >= segments.Count || segments[segment].Offset >= offset + n)
            {
                // Entirely in a hole: nothing to read.
                await _encoder.SubmitZerosAsync(file, i, n, cancellationToken).ConfigureAwait(false);
                continue;
            }
            Counters.CountContentBytes(n);
            if (content.SupportsConcurrentReads)
            {
                await _encoder.SubmitReadAsync(file, i, shared, offset, n, cancellationToken).ConfigureAwait(false);
                continue;
            }
            byte[] buffer = ArrayPool<byte>.Shared.Rent(n);
            try
            {
                await content.ReadExactlyAtAsync(offset, buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                ArrayPool<byte>.Shared.Return(buffer);
                if (e is EndOfStreamException)
                    throw new IOException($"{entry.Path}: content ended early at byte {offset} of {length}", e);
                throw;
            }
            await _encoder.SubmitAsync(file, i, buffer, n, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The blocks of a content the source handed to this sink's <see cref="BlockSpool"/>: stored as they are.</summary>
    private async ValueTask AddSpooledAsync(PendingFile file, SpooledContent content, CancellationToken cancellationToken)
    {
        var spool = _spool!;
        for (int i = 0; i < content.BlockCount; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var block = content.Block(i);
            int n = (int)Math.Min(FlistBlock.ChunkSize, file.Length - (long)i * FlistBlock.ChunkSize);
            Counters.CountContentBytes(n);
            Interlocked.Increment(ref _blocks.Blocks);
            Interlocked.Add(ref _blocks.BytesIn, n);
            if (block.Plain) Interlocked.Increment(ref _blocks.BlocksKnown);
            file.SetBlock(i, new FlistBlockRef(block.Id, block.Key));
            await _uploader.SubmitLoadedAsync(block.Id, () => spool.LoadBlock(block), cancellationToken).ConfigureAwait(false);
        }
    }

    private void AddHardLink(TreeEntry entry, long parent, string name, long perms, long mtime)
    {
        if (entry.LinkTarget is null || !_linkTargets.TryGetValue(entry.LinkTarget, out var target))
        {
            Counters.Warn($"{entry.Path}: hard link to '{entry.LinkTarget}', which was not written (skipped)");
            return;
        }
        if (target.File is not { } file)
        {
            _writer.AddInode(parent, name, 0, entry.Uid, entry.Gid, target.Mode, target.Rdev, mtime);
            Counters.CountEntry();
            return;
        }
        // A .fl has no link count: the link gets its own inode row with the same blocks (docs/flist-format.md §2.2).
        long ino = _writer.AddInode(parent, name, file.Length, entry.Uid, entry.Gid, FileTypeBits.Regular | perms, 0, mtime);
        Interlocked.Increment(ref _blocks.Files);
        if (file.Drained) _writer.AddBlocks(ino, file.Blocks);
        else file.Aliases.Add(ino);
        Counters.CountEntry();
    }

    private long Seconds(UnixTime t) => (_options.MtimeClamp is { } clamp ? t.ClampTo(clamp) : t).Seconds;

    /// <summary>Waits until the oldest pending file is encoded and writes its block rows (and its hard links').</summary>
    private async ValueTask DrainOldestAsync(CancellationToken cancellationToken)
    {
        var file = _pending.Peek();
        // A failed upload or worker stops the pipeline, so an unencoded file would wait forever: watch for that too.
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _uploader.Aborted);
        try
        {
            await file.Encoded.WaitAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            _uploader.ThrowIfFailed();
            throw;
        }
        _pending.Dequeue();
        _writer.AddBlocks(file.Ino, file.Blocks);
        foreach (var alias in file.Aliases) _writer.AddBlocks(alias, file.Blocks);
        file.Drained = true;
    }

    /// <inheritdoc />
    public override async ValueTask CompleteAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_completed || _aborted, this);
        if (!_directories.ContainsKey("")) InsertRoot(null);
        await _encoder.CompleteAsync().ConfigureAwait(false);
        await _uploader.CompleteAsync(cancellationToken).ConfigureAwait(false);
        while (_pending.Count > 0) await DrainOldestAsync(cancellationToken).ConfigureAwait(false);
        var routes = _options.Stores.Select(r => new FlistRoute(r.Start, r.End, StoreUrl.Redact(r.Store.Url)));
        IEnumerable<KeyValuePair<string, string>> tags = _options.Tags;
        if (_options.TagsForTree is { } tagsForTree) tags = tags.Concat(tagsForTree(_writer.TreeDigest()));
        _writer.Commit(routes, tags, cancellationToken);
        _writer.Dispose();
        // The spool's file stays until the sink is disposed: the source's contents read back from it, and a caller may
        // still read them after the copy (container's lint reads files of the tree it just wrote).
        if (_spool is not null) await _spool.StopEncodingAsync().ConfigureAwait(false);
        _index.Dispose();
        _blocks.Stop();
        _completed = true;
    }

    /// <inheritdoc />
    protected override async ValueTask DisposeAsyncCore()
    {
        if (!_completed && !_aborted)
        {
            _aborted = true;
            _uploader.Abort();
            await _encoder.AbortAsync().ConfigureAwait(false);
        }
        if (_spool is not null) await _spool.DisposeAsync().ConfigureAwait(false);
        _writer.Dispose();
        _index.Dispose();
    }

    private readonly record struct LinkTarget(long Mode, long Rdev, PendingFile? File);
}
