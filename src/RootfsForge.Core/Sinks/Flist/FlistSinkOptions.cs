using RootfsForge.Stores;
using RootfsForge.Tree;

namespace RootfsForge.Sinks.Flist;

/// <summary>Options of <see cref="FlistSink"/>.</summary>
public sealed class FlistSinkOptions
{
    /// <summary>
    /// Where blocks go: each block is written to every route covering its id's first byte (at least one route, and every
    /// id byte covered). Each route's <see cref="IBlockStore.Url"/> (secrets already removed) becomes a <c>route</c> row.
    /// The caller owns and disposes the stores.
    /// </summary>
    public IReadOnlyList<BlockStoreRoute> Stores { get; init; } = [];

    /// <summary>Optional <c>tag</c> rows (<c>version</c>, <c>description</c>, <c>author</c>); nothing reads them.</summary>
    public IReadOnlyDictionary<string, string> Tags { get; init; } = new Dictionary<string, string>();

    /// <summary>When set, modification times later than this are written as this (SOURCE_DATE_EPOCH).</summary>
    public UnixTime? MtimeClamp { get; init; }

    /// <summary>Chunks hashed, compressed and encrypted at once (default: one worker per core).</summary>
    public int Parallelism { get; init; } = Environment.ProcessorCount;

    /// <summary>Block uploads in flight at once across all stores (default 16).</summary>
    public int MaxUploadsInFlight { get; init; } = 16;
}

/// <summary>What a <see cref="FlistSink"/> stored; updated as it goes.</summary>
public sealed class FlistBuildStatistics
{
    internal long _files, _blocks, _bytesIn, _bytesStored, _blocksUploaded, _blocksPresent, _blocksDuplicate;

    /// <summary>Regular-file inode rows written (hard links included).</summary>
    public long Files => Interlocked.Read(ref _files);

    /// <summary>Chunks encoded (= block rows of distinct files, before dedup).</summary>
    public long Blocks => Interlocked.Read(ref _blocks);

    /// <summary>Plaintext bytes chunked.</summary>
    public long BytesIn => Interlocked.Read(ref _bytesIn);

    /// <summary>Encrypted bytes actually written to stores (every replica counted).</summary>
    public long BytesStored => Interlocked.Read(ref _bytesStored);

    /// <summary>Block writes done (PUT/SET/file), every replica counted.</summary>
    public long BlocksUploaded => Interlocked.Read(ref _blocksUploaded);

    /// <summary>Block writes skipped because the store already held the block (EXISTS/HEAD).</summary>
    public long BlocksAlreadyPresent => Interlocked.Read(ref _blocksPresent);

    /// <summary>Chunks whose content appeared earlier in the same build (stored once).</summary>
    public long BlocksDuplicate => Interlocked.Read(ref _blocksDuplicate);

    /// <summary>Wall time from creation to <see cref="FlistSink.Complete"/>.</summary>
    public TimeSpan Elapsed { get; internal set; }

    /// <inheritdoc />
    public override string ToString() =>
        $"{Files} files, {Blocks} blocks, {BytesIn} bytes in, {BytesStored} bytes stored, {BlocksUploaded} block writes, " +
        $"{BlocksAlreadyPresent} already present, {BlocksDuplicate} duplicate within the build, {Elapsed.TotalSeconds:F1} s";
}
