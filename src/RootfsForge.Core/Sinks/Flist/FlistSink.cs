using System.Buffers;
using System.Collections.Concurrent;
using System.Text;
using System.Threading.Channels;
using Microsoft.Data.Sqlite;
using RootfsForge.Flist;
using RootfsForge.Stores;
using RootfsForge.Tree;

namespace RootfsForge.Sinks.Flist;

/// <summary>
/// Writes an rfs v2 <c>.fl</c> (flist-format.md §1–§2) and puts every file's encrypted 512 KiB blocks (§3) into the block
/// stores. Chunks are encoded by a pool of workers and uploaded concurrently (a bounded number in flight); a block
/// already in a store is not written again, and identical chunks within one build are stored once. The database is
/// written under a temporary name in the target directory and renamed into place by <see cref="Complete"/>.
/// </summary>
/// <remarks>
/// Not representable in a <c>.fl</c> and reported instead: xattrs (counted, <c>security.capability</c> warned by path),
/// sockets (skipped and counted), names that are not UTF-8 or longer than 255 bytes (skipped with their subtree, warned).
/// Hard links become separate inode rows with the same blocks.
/// </remarks>
public sealed class FlistSink : TreeSink
{
    private readonly string _path;
    private readonly string _tempPath;
    private readonly FlistSinkOptions _options;
    private readonly BlockRouter _router;
    private readonly SqliteConnection _db;
    private readonly SqliteTransaction _tx;
    private readonly SqliteCommand _insertInode, _insertBlock, _insertExtra;
    private readonly Channel<ChunkWork> _chunks;
    private readonly Task[] _workers;
    private readonly SemaphoreSlim _uploadSlots;
    private readonly CancellationTokenSource _cts = new();
    private readonly ConcurrentDictionary<string, byte> _seenIds = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<PendingFile> _finished = new();
    private readonly Dictionary<string, long> _directories = new(StringComparer.Ordinal);
    private readonly Dictionary<string, LinkTarget> _linkTargets = new(StringComparer.Ordinal);
    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
    private long _nextIno = FlistSchema.RootIno;
    private int _pendingFiles;
    private Exception? _failure;
    private bool _completed, _closed;

    /// <summary>Creates the sink; the output appears at <paramref name="path"/> only when <see cref="Complete"/> succeeds.</summary>
    public FlistSink(string path, FlistSinkOptions options)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Stores.Count == 0) throw new ArgumentException("a .fl needs at least one block store", nameof(options));
        for (int b = 0; b < 256; b++)
            if (!options.Stores.Any(r => r.Covers((byte)b)))
                throw new ArgumentException($"no store covers block ids starting with {b:x2}", nameof(options));
        foreach (var r in options.Stores)
            if (r.Store.IsReadOnly) throw new ArgumentException($"store {r.Store.Url} is read-only", nameof(options));
        _path = Path.GetFullPath(path);
        _options = options;
        _router = new BlockRouter(options.Stores);
        _tempPath = Path.Combine(Path.GetDirectoryName(_path)!, $".{Path.GetFileName(_path)}.tmp-{Guid.NewGuid():N}");
        _db = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = _tempPath, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = false,
        }.ToString());
        _db.Open();
        Exec("PRAGMA journal_mode = DELETE;");
        Exec("PRAGMA synchronous = OFF;");
        _tx = _db.BeginTransaction();
        foreach (var sql in FlistSchema.CreateStatements) Exec(sql, _tx);
        _insertInode = Prepare("INSERT INTO inode (ino, parent, name, size, uid, gid, mode, rdev, ctime, mtime) " +
                               "VALUES ($ino, $parent, $name, $size, $uid, $gid, $mode, $rdev, $ctime, $mtime)",
            "$ino", "$parent", "$name", "$size", "$uid", "$gid", "$mode", "$rdev", "$ctime", "$mtime");
        _insertBlock = Prepare("INSERT INTO block (ino, id, key) VALUES ($ino, $id, $key)", "$ino", "$id", "$key");
        _insertExtra = Prepare("INSERT INTO extra (ino, data) VALUES ($ino, $data)", "$ino", "$data");

        int workers = Math.Max(1, options.Parallelism);
        _uploadSlots = new SemaphoreSlim(Math.Max(1, options.MaxUploadsInFlight));
        _chunks = Channel.CreateBounded<ChunkWork>(new BoundedChannelOptions(workers * 2)
        {
            SingleWriter = true, FullMode = BoundedChannelFullMode.Wait,
        });
        _workers = Enumerable.Range(0, workers).Select(_ => Task.Run(WorkerAsync)).ToArray();
    }

    /// <summary>Block, byte and dedup counters for the summary.</summary>
    public FlistBuildStatistics Blocks { get; } = new();

    /// <inheritdoc />
    public override void Add(TreeEntry entry, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ObjectDisposedException.ThrowIf(_closed, this);
        cancellationToken.ThrowIfCancellationRequested();
        ThrowIfFailed();
        DrainFinished();
        if (entry.Path.Length == 0)
        {
            if (_directories.ContainsKey("")) throw new InvalidOperationException("the root was added twice");
            InsertRoot(entry);
            return;
        }
        if (!_directories.ContainsKey("")) InsertRoot(null);

        int slash = entry.Path.LastIndexOf('/');
        string parentPath = slash < 0 ? "" : entry.Path[..slash];
        string name = entry.Path[(slash + 1)..];
        if (!_directories.TryGetValue(parentPath, out long parent)) return; // parent skipped and already reported
        if (FileNameEncoding.HasEscapes(name))
        {
            Statistics.Warnings.Add($"{entry.Path}: name is not UTF-8; a .fl cannot hold it (skipped)");
            return;
        }
        if (Encoding.UTF8.GetByteCount(name) > 255 || name is "." or ".." || name.Length == 0)
        {
            Statistics.Warnings.Add($"{entry.Path}: name is not a valid .fl name (skipped)");
            return;
        }
        if (entry.ExtendedAttributes.Count > 0)
        {
            Statistics.AddDroppedAttributes(entry.ExtendedAttributes.Count);
            if (entry.ExtendedAttributes.Any(x => x.Name == "security.capability"))
                Statistics.Warnings.Add($"{entry.Path}: file capabilities (security.capability) dropped; a .fl cannot hold them");
        }

        long mtime = Seconds(entry.ModificationTime);
        long perms = entry.Permissions & 0xFFF;
        switch (entry.Type)
        {
            case EntryType.Directory:
                _directories[entry.Path] = InsertInode(parent, name, FlistSchema.DirectorySize, entry.Uid, entry.Gid,
                    FlistSchema.Directory | perms, 0, mtime);
                break;
            case EntryType.RegularFile:
                AddRegularFile(entry, parent, name, perms, mtime, cancellationToken);
                break;
            case EntryType.HardLink:
                AddHardLink(entry, parent, name, perms, mtime);
                return;
            case EntryType.SymbolicLink:
            {
                // As the kernel reads it (up to the first NUL), like the tar and directory sinks.
                var text = SymlinkTargets.AsKernelReadsIt(entry.LinkTarget, out bool truncated);
                if (text.Length == 0)
                    Statistics.Warnings.Add($"'{entry.Path}': symlink with empty target kept; a mount shows it as it is");
                else if (truncated)
                    Statistics.Warnings.Add(SymlinkTargets.TruncatedWarning(entry.Path));
                byte[] target = FileNameEncoding.GetBytes(text);
                long ino = InsertInode(parent, name, target.Length, entry.Uid, entry.Gid, FlistSchema.Symlink | 0x1FF, 0, mtime);
                _insertExtra.Parameters[0].Value = ino;
                _insertExtra.Parameters[1].Value = target;
                _insertExtra.ExecuteNonQuery();
                break;
            }
            case EntryType.CharacterDevice:
            case EntryType.BlockDevice:
            case EntryType.Fifo:
            {
                long type = entry.Type switch
                {
                    EntryType.CharacterDevice => FlistSchema.CharDevice,
                    EntryType.BlockDevice => FlistSchema.BlockDevice,
                    _ => FlistSchema.Fifo,
                };
                long rdev = entry.Type == EntryType.Fifo ? 0 : FlistSchema.MakeDev(entry.DeviceMajor, entry.DeviceMinor);
                InsertInode(parent, name, 0, entry.Uid, entry.Gid, type | perms, rdev, mtime);
                _linkTargets[entry.Path] = new LinkTarget(type | perms, rdev, null);
                break;
            }
            case EntryType.Socket:
                Statistics.AddSkippedSocket();
                return;
            default:
                throw new ArgumentException($"{entry.Path}: unknown entry type {entry.Type}");
        }
        Statistics.AddEntry();
    }

    private void InsertRoot(TreeEntry? root)
    {
        long perms = root is null ? 0x1ED : root.Permissions & 0xFFF;
        long ino = InsertInode(0, "/", FlistSchema.DirectorySize, root?.Uid ?? 0, root?.Gid ?? 0, FlistSchema.Directory | perms,
            0, root is null ? 0 : Seconds(root.ModificationTime));
        _directories[""] = ino;
        if (root is not null) Statistics.AddEntry();
    }

    private void AddRegularFile(TreeEntry entry, long parent, string name, long perms, long mtime, CancellationToken ct)
    {
        using var content = entry.OpenContent?.Invoke() ?? FileContent.FromBytes(ReadOnlyMemory<byte>.Empty);
        long length = content.Length;
        long ino = InsertInode(parent, name, length, entry.Uid, entry.Gid, FlistSchema.Regular | perms, 0, mtime);
        Interlocked.Increment(ref Blocks._files);
        int count = checked((int)((length + FlistBlock.ChunkSize - 1) / FlistBlock.ChunkSize));
        var file = new PendingFile(ino, count, length);
        _linkTargets[entry.Path] = new LinkTarget(FlistSchema.Regular | perms, 0, file);
        if (count == 0)
        {
            file.Drained = true;
            return;
        }
        _pendingFiles++;
        content.Prefetch(0, length);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, _cts.Token);
        for (int i = 0; i < count; i++)
        {
            long offset = (long)i * FlistBlock.ChunkSize;
            int n = (int)Math.Min(FlistBlock.ChunkSize, length - offset);
            byte[] buffer = ArrayPool<byte>.Shared.Rent(n);
            try
            {
                content.ReadExactlyAt(offset, buffer.AsSpan(0, n));
                Statistics.AddContentBytes(n);
                var work = new ChunkWork(file, i, buffer, n);
                while (!_chunks.Writer.TryWrite(work))
                    _chunks.Writer.WaitToWriteAsync(linked.Token).AsTask().GetAwaiter().GetResult();
            }
            catch (Exception e)
            {
                ArrayPool<byte>.Shared.Return(buffer);
                if (e is OperationCanceledException && !ct.IsCancellationRequested) ThrowIfFailed();
                if (e is EndOfStreamException)
                    throw new IOException($"{entry.Path}: content ended early at byte {offset} of {length}", e);
                throw;
            }
        }
    }

    private void AddHardLink(TreeEntry entry, long parent, string name, long perms, long mtime)
    {
        if (entry.LinkTarget is null || !_linkTargets.TryGetValue(entry.LinkTarget, out var target))
        {
            Statistics.Warnings.Add($"{entry.Path}: hard link to '{entry.LinkTarget}', which was not written (skipped)");
            return;
        }
        if (target.File is not { } file)
        {
            InsertInode(parent, name, 0, entry.Uid, entry.Gid, target.Mode, target.Rdev, mtime);
            Statistics.AddEntry();
            return;
        }
        // A .fl has no link count: the link gets its own inode row with the same blocks (§2.2).
        long ino = InsertInode(parent, name, file.Length, entry.Uid,
            entry.Gid, FlistSchema.Regular | perms, 0, mtime);
        Interlocked.Increment(ref Blocks._files);
        if (file.Drained) InsertBlockRows(ino, file);
        else file.Aliases.Add(ino);
        Statistics.AddEntry();
    }

    private long Seconds(UnixTime t) => (_options.MtimeClamp is { } clamp ? t.ClampTo(clamp) : t).Seconds;

    private long InsertInode(long parent, string name, long size, uint uid, uint gid, long mode, long rdev, long mtime)
    {
        long ino = _nextIno++;
        var p = _insertInode.Parameters;
        p[0].Value = ino;
        p[1].Value = parent;
        p[2].Value = name;
        p[3].Value = size;
        p[4].Value = (long)uid;
        p[5].Value = (long)gid;
        p[6].Value = mode;
        p[7].Value = rdev;
        p[8].Value = mtime; // ctime = mtime: the build host's ctime means nothing after extraction (§2.3)
        p[9].Value = mtime;
        _insertInode.ExecuteNonQuery();
        return ino;
    }

    private void InsertBlockRows(long ino, PendingFile file)
    {
        foreach (var b in file.Blocks)
        {
            _insertBlock.Parameters[0].Value = ino;
            _insertBlock.Parameters[1].Value = b.Id;
            _insertBlock.Parameters[2].Value = b.Key;
            _insertBlock.ExecuteNonQuery();
        }
    }

    /// <summary>Writes block rows of files whose chunks are all encoded, in file order (§2.5).</summary>
    private void DrainFinished()
    {
        while (_finished.TryDequeue(out var file))
        {
            InsertBlockRows(file.Ino, file);
            foreach (var alias in file.Aliases) InsertBlockRows(alias, file);
            file.Drained = true;
            _pendingFiles--;
        }
    }

    private async Task WorkerAsync()
    {
        try
        {
            await foreach (var work in _chunks.Reader.ReadAllAsync(_cts.Token).ConfigureAwait(false))
            {
                EncodedBlock block;
                try
                {
                    block = FlistBlock.Encode(work.Buffer.AsSpan(0, work.Length));
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(work.Buffer);
                }
                Interlocked.Increment(ref Blocks._blocks);
                Interlocked.Add(ref Blocks._bytesIn, work.Length);
                if (_seenIds.TryAdd(Convert.ToHexStringLower(block.Id), 0))
                {
                    await _uploadSlots.WaitAsync(_cts.Token).ConfigureAwait(false);
                    _ = UploadAsync(block.Id, block.Data);
                }
                else
                {
                    Interlocked.Increment(ref Blocks._blocksDuplicate);
                }
                work.File.Blocks[work.Index] = new FlistBlockRef(block.Id, block.Key);
                if (Interlocked.Decrement(ref work.File.Remaining) == 0) _finished.Enqueue(work.File);
            }
        }
        catch (Exception e)
        {
            Fail(e);
        }
    }

    private async Task UploadAsync(byte[] id, byte[] data)
    {
        try
        {
            foreach (var store in _router.StoresFor(id))
            {
                if (await store.ExistsAsync(id, _cts.Token).ConfigureAwait(false))
                {
                    Interlocked.Increment(ref Blocks._blocksPresent);
                    continue;
                }
                await store.PutAsync(id, data, _cts.Token).ConfigureAwait(false);
                Interlocked.Increment(ref Blocks._blocksUploaded);
                Interlocked.Add(ref Blocks._bytesStored, data.Length);
            }
        }
        catch (Exception e)
        {
            Fail(e);
        }
        finally
        {
            _uploadSlots.Release();
        }
    }

    private void Fail(Exception e)
    {
        if (e is OperationCanceledException && _cts.IsCancellationRequested) return;
        Interlocked.CompareExchange(ref _failure, e, null);
        try
        {
            _cts.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private void ThrowIfFailed()
    {
        var f = Volatile.Read(ref _failure);
        if (f is null) return;
        if (f is BlockStoreException or ImageFormatException)
            throw new BlockStoreException(f.Message, f);
        throw new IOException($"flist build failed: {f.Message}", f);
    }

    /// <inheritdoc />
    public override void Complete(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        if (!_directories.ContainsKey("")) InsertRoot(null);
        _chunks.Writer.TryComplete();
        using (cancellationToken.Register(() => _cts.Cancel()))
        {
            Task.WhenAll(_workers).GetAwaiter().GetResult();
            // Every upload holds a slot: owning them all means every upload has finished.
            for (int i = 0; i < Math.Max(1, _options.MaxUploadsInFlight); i++)
                _uploadSlots.Wait(CancellationToken.None);
        }
        cancellationToken.ThrowIfCancellationRequested();
        ThrowIfFailed();
        DrainFinished();
        if (_pendingFiles != 0) throw new InvalidOperationException($"{_pendingFiles} files still have blocks in flight");

        using (var route = Prepare("INSERT INTO route (start, \"end\", url) VALUES ($s, $e, $u)", "$s", "$e", "$u"))
        {
            foreach (var r in _options.Stores)
            {
                route.Parameters[0].Value = (long)r.Start;
                route.Parameters[1].Value = (long)r.End;
                route.Parameters[2].Value = StoreUrl.Redact(r.Store.Url);
                route.ExecuteNonQuery();
            }
        }
        using (var tag = Prepare("INSERT OR REPLACE INTO tag (key, value) VALUES ($k, $v)", "$k", "$v"))
        {
            foreach (var (k, v) in _options.Tags)
            {
                tag.Parameters[0].Value = k;
                tag.Parameters[1].Value = v;
                tag.ExecuteNonQuery();
            }
        }
        _tx.Commit();
        CloseDatabase();
        using (var fs = new FileStream(_tempPath, FileMode.Open, FileAccess.ReadWrite)) fs.Flush(flushToDisk: true);
        File.Move(_tempPath, _path, overwrite: true);
        _completed = true;
        Blocks.Elapsed = _clock.Elapsed;
    }

    private void CloseDatabase()
    {
        if (_closed) return;
        _closed = true;
        _insertInode.Dispose();
        _insertBlock.Dispose();
        _insertExtra.Dispose();
        _tx.Dispose();
        _db.Close();
        _db.Dispose();
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (!disposing) return;
        if (!_completed)
        {
            Fail(new OperationCanceledException("aborted"));
            _cts.Cancel();
            _chunks.Writer.TryComplete();
            try
            {
                Task.WhenAll(_workers).Wait(TimeSpan.FromSeconds(30));
            }
            catch (AggregateException)
            {
            }
            while (_chunks.Reader.TryRead(out var w)) ArrayPool<byte>.Shared.Return(w.Buffer);
            CloseDatabase();
            foreach (var p in new[] { _tempPath, _tempPath + "-journal", _tempPath + "-wal", _tempPath + "-shm" })
                if (File.Exists(p)) File.Delete(p);
        }
        _cts.Dispose();
    }

    private void Exec(string sql, SqliteTransaction? tx = null)
    {
        using var cmd = _db.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    private SqliteCommand Prepare(string sql, params string[] names)
    {
        var cmd = _db.CreateCommand();
        cmd.Transaction = _tx;
        cmd.CommandText = sql;
        foreach (var n in names) cmd.Parameters.Add(new SqliteParameter { ParameterName = n });
        cmd.Prepare();
        return cmd;
    }

    private sealed class PendingFile(long ino, int count, long length)
    {
        public readonly long Ino = ino;
        public readonly long Length = length;
        public readonly FlistBlockRef[] Blocks = new FlistBlockRef[count];
        public readonly List<long> Aliases = [];
        public int Remaining = count;
        public bool Drained;
    }

    private readonly record struct ChunkWork(PendingFile File, int Index, byte[] Buffer, int Length);

    private readonly record struct LinkTarget(long Mode, long Rdev, PendingFile? File);
}
