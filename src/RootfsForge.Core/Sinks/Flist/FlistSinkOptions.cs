using RootfsForge.Flist;
using RootfsForge.Stores;
using RootfsForge.Tree;

namespace RootfsForge.Sinks.Flist;

/// <summary>Options of <see cref="FlistSink"/>.</summary>
public sealed record FlistSinkOptions
{
    /// <summary>The default of <see cref="MaxBlocksPerFile"/>: 131,072 blocks, a 64 GiB file.</summary>
    public const long DefaultMaxBlocksPerFile = 1 << 17;

    /// <summary>
    /// Where blocks go: each block is written to every route covering its id's first byte (at least one route, and every
    /// id byte covered). Each route's <see cref="IBlockStore.Url"/> (secrets already removed) becomes a <c>route</c> row.
    /// The caller owns and disposes the stores.
    /// </summary>
    public IReadOnlyList<BlockStoreRoute> Stores { get; init; } = [];

    /// <summary>Optional <c>tag</c> rows (<c>version</c>, <c>description</c>, <c>author</c>, ...).</summary>
    public IReadOnlyDictionary<string, string> Tags { get; init; } = new Dictionary<string, string>();

    /// <summary>
    /// When set, called once every entry and block row is written, with the tree's <see cref="FlistTreeDigest"/>; the
    /// rows it returns are written as tags too (after <see cref="Tags"/>, replacing equal keys). A build manifest signed
    /// together with the digest uses it.
    /// </summary>
    public Func<string, IReadOnlyDictionary<string, string>>? TagsForTree { get; init; }

    /// <summary>When set, modification times later than this are written as this (SOURCE_DATE_EPOCH).</summary>
    public UnixTime? MtimeClamp { get; init; }

    /// <summary>Chunks hashed, compressed and encrypted at once (default: one worker per core).</summary>
    public int Parallelism { get; init; } = Environment.ProcessorCount;

    /// <summary>Block uploads in flight at once across all stores (default 16).</summary>
    public int MaxUploadsInFlight { get; init; } = 16;

    /// <summary>
    /// The most block rows one file may need (its size / 512 KiB, rounded up). A <c>.fl</c> cannot hold holes: rfs reads
    /// every 512 KiB of a file from a block row, so a sparse file of apparent size S costs S / 512 KiB rows (all of
    /// them one shared all-zero block). A file needing more is refused before any of it is read, naming the file and its
    /// apparent size.
    /// </summary>
    public long MaxBlocksPerFile { get; init; } = DefaultMaxBlocksPerFile;

    /// <summary>
    /// A file remembering each chunk's block id across builds (created when missing; shared safely by concurrent builds),
    /// so rebuilding a tree whose blocks the stores hold costs hashing only; <c>null</c> remembers within this build only.
    /// Every block is still checked to exist in its stores, and encoded and uploaded if it does not.
    /// </summary>
    public string? BlockIndexPath { get; init; }

    /// <summary>The default block index: <c>$XDG_CACHE_HOME/rootfsforge/block-ids</c> (or <c>~/.cache/…</c>).</summary>
    public static string DefaultBlockIndexPath =>
        Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg
            ? xdg
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "rootfsforge", "block-ids");
}

/// <summary>What a <see cref="FlistSink"/> stored, at one moment.</summary>
/// <param name="Files">Regular-file inode rows written (hard links included).</param>
/// <param name="Blocks">Chunks encoded (block rows of distinct files, before deduplication).</param>
/// <param name="BytesIn">Plaintext bytes chunked (holes included: a <c>.fl</c> stores them as zero blocks).</param>
/// <param name="BytesStored">Encrypted bytes actually written to stores (every replica counted).</param>
/// <param name="BlocksUploaded">Block writes done (PUT/SET/file), every replica counted.</param>
/// <param name="BlocksAlreadyPresent">Block writes skipped because the store already held the block.</param>
/// <param name="BlocksDuplicate">Chunks whose content appeared earlier in the same build (stored once).</param>
/// <param name="BlocksKnown">Chunks whose block id came from the block index (<see cref="FlistSinkOptions.BlockIndexPath"/>):
/// not compressed or encrypted unless a store lacked the block.</param>
/// <param name="Elapsed">Time from the sink's creation to now, or to its completion.</param>
public sealed record FlistStatistics(long Files, long Blocks, long BytesIn, long BytesStored, long BlocksUploaded,
    long BlocksAlreadyPresent, long BlocksDuplicate, long BlocksKnown, TimeSpan Elapsed);

/// <summary>The live counters behind <see cref="FlistStatistics"/>.</summary>
internal sealed class FlistCounters
{
    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
    public long Files, Blocks, BytesIn, BytesStored, BlocksUploaded, BlocksAlreadyPresent, BlocksDuplicate, BlocksKnown,
        BlocksEncodedLate;

    public void Stop() => _clock.Stop();

    public FlistStatistics Snapshot() => new(Interlocked.Read(ref Files), Interlocked.Read(ref Blocks),
        Interlocked.Read(ref BytesIn), Interlocked.Read(ref BytesStored), Interlocked.Read(ref BlocksUploaded),
        Interlocked.Read(ref BlocksAlreadyPresent), Interlocked.Read(ref BlocksDuplicate), Interlocked.Read(ref BlocksKnown),
        _clock.Elapsed);
}
