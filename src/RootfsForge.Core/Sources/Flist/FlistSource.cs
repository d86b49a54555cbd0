using RootfsForge.Flist;
using RootfsForge.Stores;
using RootfsForge.Tree;

namespace RootfsForge.Sources.Flist;

/// <summary>
/// Reads an rfs v2 <c>.fl</c> as a tree: metadata from the SQLite file (read whole and closed at once), file content
/// fetched block by block from the stores, decrypted and decompressed. Entries come in <see cref="ITreeSource"/> order.
/// Dispose it with <c>await using</c>: closing the stores it opened is asynchronous (connections, HTTP clients).
/// </summary>
public sealed class FlistSource : ITreeSource, IAsyncDisposable
{
    private readonly FlistFile _file;
    private readonly BlockRouter _router;
    private readonly bool _ownsRouter;
    private readonly List<string> _warnings = [];
    private FlistTree? _tree;

    private FlistSource(FlistFile file, BlockRouter router, bool ownsRouter)
    {
        _file = file;
        _router = router;
        _ownsRouter = ownsRouter;
    }

    /// <summary>
    /// Opens <paramref name="path"/>. Content is read through <paramref name="stores"/> when given, else through the
    /// stores named in the file's <c>route</c> table. Throws <see cref="ImageFormatException"/> when the file is not a
    /// readable <c>.fl</c>.
    /// </summary>
    public static FlistSource Open(string path, IReadOnlyList<BlockStoreRoute>? stores = null)
    {
        var file = FlistFile.Open(path);
        if (stores is { Count: > 0 }) return new FlistSource(file, new BlockRouter(stores), ownsRouter: false);
        var routes = new List<BlockStoreRoute>();
        foreach (var r in file.Routes)
        {
            try
            {
                routes.Add(new BlockStoreRoute(r.Start, r.End, BlockStore.Open(r.Url)));
            }
            catch (ArgumentException e)
            {
                throw new ImageFormatException($"route '{StoreUrl.Redact(r.Url)}' cannot be opened: {e.Message}", "route",
                    inner: e) { ImagePath = path };
            }
        }
        return new FlistSource(file, new BlockRouter(routes), ownsRouter: true);
    }

    /// <inheritdoc />
    public IReadOnlyList<string> Warnings => _warnings;

    /// <summary>The store URLs of the file's route table (as stored: without secrets), with their id ranges.</summary>
    public IReadOnlyList<(byte Start, byte End, string Url)> Routes =>
        _file.Routes.Select(r => (r.Start, r.End, r.Url)).ToList();

    /// <summary>Summary counts of the file.</summary>
    public FlistInfo GetInfo()
    {
        int dirs = 0, files = 0, links = 0, other = 0;
        long bytes = 0, incomplete = 0;
        foreach (var i in _file.Inodes)
        {
            switch (i.Type)
            {
                case FileTypeBits.Directory: dirs++; break;
                case FileTypeBits.Regular:
                    files++;
                    // Only sizes backed by block rows count: each is at most rows × 512 KiB, so the sum cannot overflow.
                    if (_file.HasAllBlocks(i)) bytes += i.Size;
                    else incomplete++;
                    break;
                case FileTypeBits.Symlink: links++; break;
                default: other++; break;
            }
        }
        return new FlistInfo(_file.Inodes.Count, dirs, files, links, other, _file.BlockRowCount, bytes, incomplete,
            Tree.UnreachableCount, Routes, _file.Tags.ToList());
    }

    /// <summary>
    /// The content blocks of a regular file (or hard link) <paramref name="entry"/> this source walked, one per 512 KiB
    /// chunk, in order; empty for other entries. Two files whose lists hold
    /// the same keys have the same content (a key is the hash of the chunk's plaintext, docs/flist-format.md), so
    /// comparing flists needs no block fetched.
    /// </summary>
    public IReadOnlyList<FlistContentBlock> ContentBlocksOf(TreeEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (entry.Type is not (EntryType.RegularFile or EntryType.HardLink)) return [];
        var blocks = _file.BlocksOf(entry.InodeId);
        if (blocks.Count == 0) return [];
        long size = entry.Size;
        var list = new FlistContentBlock[blocks.Count];
        for (int k = 0; k < blocks.Count; k++)
            list[k] = new FlistContentBlock(Convert.ToHexStringLower(blocks[k].Id), Convert.ToHexStringLower(blocks[k].Key),
                (int)Math.Clamp(size - (long)k * FlistBlock.ChunkSize, 0, FlistBlock.ChunkSize));
        return list;
    }

    /// <summary>Every distinct content block of the file's regular files (by id), with its plaintext length.</summary>
    public IReadOnlyList<FlistContentBlock> DistinctContentBlocks()
    {
        var seen = new Dictionary<string, FlistContentBlock>(StringComparer.Ordinal);
        foreach (var i in _file.Inodes)
        {
            if (i.Type != FileTypeBits.Regular) continue;
            var blocks = _file.BlocksOf(i.Ino);
            for (int k = 0; k < blocks.Count; k++)
            {
                string id = Convert.ToHexStringLower(blocks[k].Id);
                if (!seen.ContainsKey(id))
                    seen[id] = new FlistContentBlock(id, Convert.ToHexStringLower(blocks[k].Key),
                        (int)Math.Clamp(i.Size - (long)k * FlistBlock.ChunkSize, 0, FlistBlock.ChunkSize));
            }
        }
        return [.. seen.Values];
    }

    /// <summary>The rows as a tree, built on first use.</summary>
    private FlistTree Tree => _tree ??= FlistTree.Build(_file);

    /// <inheritdoc />
    /// <exception cref="ImageFormatException">The rows do not form one tree: no root, a root that is not a directory, or
    /// rows that cannot be reached from the root (see <see cref="FlistTree"/> for the kinds); thrown before any entry.</exception>
    public async IAsyncEnumerable<TreeEntry> WalkAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var tree = Tree;
        if (tree.Problems.Count > 0) throw tree.Problems[0];
        // The rows are in memory: the walk runs synchronously between yields; only file content is fetched asynchronously.
        var walker = new FlistWalker(_file, tree, _router, _warnings);
        foreach (var (entry, _) in walker.Walk(tree.Root!, cancellationToken)) yield return entry;
        await Task.CompletedTask.ConfigureAwait(false);
    }

    /// <summary>
    /// Checks every distinct block: present in a covering store, decrypts, decompresses to the expected length, and
    /// hashes to its key. Runs <paramref name="parallelism"/> fetches at once.
    /// </summary>
    public async Task<FlistVerifyResult> VerifyAsync(int parallelism = 8, CancellationToken cancellationToken = default)
    {
        var work = new Dictionary<string, (FlistBlockRef Block, int Length, string Where)>(StringComparer.Ordinal);
        var list = new List<string>();
        foreach (var i in _file.Inodes.Where(i => i.Type == FileTypeBits.Regular))
        {
            var blocks = _file.BlocksOf(i.Ino);
            if (!_file.HasAllBlocks(i))
            {
                // Reported as one problem; its rows cannot be matched to chunks, so they are not fetched.
                list.Add($"inode {i.Ino} ('{i.DisplayName}'): {blocks.Count} block rows for {i.Size} bytes, expected {FlistFile.BlockCount(i.Size)}");
                continue;
            }
            for (int k = 0; k < blocks.Count; k++)
            {
                int len = (int)Math.Min(FlistBlock.ChunkSize, i.Size - (long)k * FlistBlock.ChunkSize);
                work.TryAdd(Convert.ToHexStringLower(blocks[k].Id) + Convert.ToHexStringLower(blocks[k].Key),
                    (blocks[k], len, $"inode {i.Ino} block {k}"));
            }
        }
        var problems = new System.Collections.Concurrent.ConcurrentBag<string>();
        await Parallel.ForEachAsync(work.Values, new ParallelOptions
        {
            MaxDegreeOfParallelism = Math.Max(1, parallelism), CancellationToken = cancellationToken,
        }, async (w, ct) =>
        {
            try
            {
                var data = await _router.GetAsync(w.Block.Id, ct).ConfigureAwait(false);
                var plain = FlistBlock.Decode(data, w.Block.Key, w.Block.Id, verifyKey: true);
                if (plain.Length != w.Length)
                    problems.Add($"{w.Where}: block {Convert.ToHexStringLower(w.Block.Id)} holds {plain.Length} bytes, expected {w.Length}");
            }
            catch (Exception e) when (e is BlockStoreException or ImageFormatException)
            {
                problems.Add($"{w.Where}: {e.Message}");
            }
        }).ConfigureAwait(false);
        list.AddRange(problems.OrderBy(p => p, StringComparer.Ordinal));
        // The tree's shape: rows outside it are corrupt input too (rfs's mount would not show them).
        var tree = Tree;
        foreach (var p in tree.Problems) list.Add(p.Message);
        if (tree.UnreachableCount > 0)
            list.Add($"{tree.UnreachableCount} of {_file.Inodes.Count} inodes are not reachable from the root");
        return new FlistVerifyResult(work.Count, list);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_ownsRouter) await _router.DisposeAsync().ConfigureAwait(false);
    }
}

/// <summary>One content block of a <c>.fl</c> file.</summary>
/// <param name="Id">The block id (hex): the store key.</param>
/// <param name="Key">The block key (hex): the hash of the chunk's plaintext, also its decryption key.</param>
/// <param name="Length">The chunk's plaintext length.</param>
public readonly record struct FlistContentBlock(string Id, string Key, int Length);

/// <summary>Counts of a <c>.fl</c>, for <c>fl info</c>.</summary>
/// <param name="Inodes">All inode rows.</param>
/// <param name="Directories">Directory inodes.</param>
/// <param name="Files">Regular-file inodes.</param>
/// <param name="Symlinks">Symlink inodes.</param>
/// <param name="Other">Devices, FIFOs, sockets.</param>
/// <param name="BlockRows">Rows of the block table.</param>
/// <param name="ContentBytes">Sum of the sizes of the regular files whose block rows cover them (what can be read back).</param>
/// <param name="FilesWithWrongBlockCount">Regular files whose block rows do not cover their size (not in <paramref name="ContentBytes"/>).</param>
/// <param name="Unreachable">Inodes a walk from the root does not reach (a parent cycle, a missing or non-directory parent).</param>
/// <param name="Routes">The route table.</param>
/// <param name="Tags">The tag table.</param>
public sealed record FlistInfo(int Inodes, int Directories, int Files, int Symlinks, int Other, long BlockRows,
    long ContentBytes, long FilesWithWrongBlockCount, int Unreachable, IReadOnlyList<(byte Start, byte End, string Url)> Routes,
    IReadOnlyList<KeyValuePair<string, string>> Tags);

/// <summary>Outcome of <see cref="FlistSource.VerifyAsync"/>.</summary>
/// <param name="DistinctBlocks">Distinct blocks checked.</param>
/// <param name="Problems">One line per bad or missing block or file; empty when the flist is complete.</param>
public sealed record FlistVerifyResult(int DistinctBlocks, IReadOnlyList<string> Problems)
{
    /// <summary>True when every block was present and correct.</summary>
    public bool Ok => Problems.Count == 0;
}
