namespace RootfsForge.Stores;

/// <summary>
/// A store serving the block ids whose first byte lies in [<see cref="Start"/>, <see cref="End"/>] (inclusive,
/// docs/flist-format.md §5). One row of the <c>.fl</c> route table.
/// </summary>
/// <param name="Start">First id byte covered.</param>
/// <param name="End">Last id byte covered.</param>
/// <param name="Store">The store.</param>
public sealed record BlockStoreRoute(byte Start, byte End, IBlockStore Store)
{
    /// <summary>True when the route covers an id starting with <paramref name="firstByte"/>.</summary>
    public bool Covers(byte firstByte) => Start <= firstByte && firstByte <= End;

    /// <summary>
    /// Parses the rfs <c>-s</c> syntax <c>[xx-yy=]URL</c> (two hex bytes; no range means 00-ff) and opens the store.
    /// </summary>
    public static BlockStoreRoute Parse(string spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        byte start = 0, end = 255;
        string url = spec;
        int eq = spec.IndexOf('=');
        int scheme = spec.IndexOf("://", StringComparison.Ordinal);
        if (eq > 0 && (scheme < 0 || eq < scheme))
        {
            string range = spec[..eq];
            url = spec[(eq + 1)..];
            var parts = range.Split('-');
            if (parts.Length != 2 || parts[0].Length != 2 || parts[1].Length != 2
                || !byte.TryParse(parts[0], System.Globalization.NumberStyles.HexNumber, null, out start)
                || !byte.TryParse(parts[1], System.Globalization.NumberStyles.HexNumber, null, out end)
                || start > end)
                throw new ArgumentException($"bad store range '{range}': expected xx-yy with two hex bytes, xx <= yy");
        }
        return new BlockStoreRoute(start, end, BlockStore.Open(url));
    }
}

/// <summary>Chooses stores for block ids from a route table (docs/flist-format.md §5).</summary>
internal sealed class BlockRouter : IAsyncDisposable
{
    private readonly BlockStoreRoute[] _routes;

    /// <summary>Creates a router over <paramref name="routes"/>.</summary>
    public BlockRouter(IEnumerable<BlockStoreRoute> routes) => _routes = routes.ToArray();

    /// <summary>The routes, in table order.</summary>
    public IReadOnlyList<BlockStoreRoute> Routes => _routes;

    /// <summary>Every store covering <paramref name="id"/>.</summary>
    /// <exception cref="ImageFormatException">None does ("key not routable"): the route table cannot serve this block
    /// (kind <see cref="ImageErrorKind.MissingReference"/>).</exception>
    public IReadOnlyList<IBlockStore> StoresFor(ReadOnlySpan<byte> id)
    {
        var list = new List<IBlockStore>(1);
        foreach (var r in _routes)
            if (r.Covers(id[0])) list.Add(r.Store);
        if (list.Count == 0)
            throw new ImageFormatException($"no store covers first byte {id[0]:x2}", $"block {Convert.ToHexStringLower(id)}",
                kind: ImageErrorKind.MissingReference);
        return list;
    }

    /// <summary>
    /// Reads a block from the covering stores, in random order, first success wins (docs/flist-format.md §5).
    /// </summary>
    /// <exception cref="ImageFormatException">No store covers the block, or every covering store answered that it does not
    /// hold it: the flist refers to content that is not there (kind <see cref="ImageErrorKind.MissingReference"/>).</exception>
    /// <exception cref="BlockStoreException">No store holding it could be reached (the last store error is inside).</exception>
    public async Task<byte[]> GetAsync(ReadOnlyMemory<byte> id, CancellationToken cancellationToken = default)
    {
        var stores = StoresFor(id.Span).ToArray();
        Random.Shared.Shuffle(stores);
        Exception? failure = null;
        foreach (var s in stores)
        {
            try
            {
                var data = await s.GetAsync(id, cancellationToken).ConfigureAwait(false);
                if (data is not null) return data;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                failure = e;
            }
        }
        string hex = Convert.ToHexStringLower(id.Span);
        if (failure is not null)
            throw new BlockStoreException($"block {hex}: every store failed; last error: {failure.Message}", failure);
        throw new ImageFormatException($"is missing from {string.Join(", ", stores.Select(s => s.Url))}", $"block {hex}",
            kind: ImageErrorKind.MissingReference);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        foreach (var s in _routes.Select(r => r.Store).Distinct()) await s.DisposeAsync().ConfigureAwait(false);
    }
}
