namespace RootfsForge.Stores;

/// <summary>
/// A content-addressed store of encrypted <c>.fl</c> blocks, keyed by the 32-byte block id (docs/flist-format.md §6).
/// Implementations are safe for concurrent use.
/// </summary>
public interface IBlockStore : IAsyncDisposable
{
    /// <summary>The store URL with its secrets removed (what the <c>.fl</c> route table and messages show).</summary>
    string Url { get; }

    /// <summary>True when the store can only be read (<c>http(s)://</c>).</summary>
    bool IsReadOnly { get; }

    /// <summary>True when a block with this id is present.</summary>
    Task<bool> ExistsAsync(ReadOnlyMemory<byte> id, CancellationToken cancellationToken = default);

    /// <summary>
    /// Stores <paramref name="data"/> under <paramref name="id"/> (overwriting is harmless: same id, same bytes).
    /// <paramref name="data"/> is only valid until the returned task completes (the caller may reuse its memory then):
    /// an implementation that keeps the bytes copies them.
    /// </summary>
    Task PutAsync(ReadOnlyMemory<byte> id, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default);

    /// <summary>The block's bytes, or <c>null</c> when the store does not hold it.</summary>
    Task<byte[]?> GetAsync(ReadOnlyMemory<byte> id, CancellationToken cancellationToken = default);
}

/// <summary>A block store failed (unreachable, refused, protocol error). The message never carries secrets.</summary>
public sealed class BlockStoreException : IOException
{
    /// <summary>Creates the exception; <paramref name="message"/> must already be redacted.</summary>
    public BlockStoreException(string message, Exception? inner = null) : base(message, inner)
    {
    }
}
