using System.Net;

namespace RootfsForge.Stores;

/// <summary>
/// <c>http(s)://host/prefix</c>, read-only: GET <c>{url}/{hex[0..2]}/{hex}</c>, on 404 <c>{url}/{hex}</c>; only 200
/// counts (docs/flist-format.md §6).
/// </summary>
internal sealed class HttpBlockStore : IBlockStore
{
    private readonly HttpClient _http;
    private readonly string _base;

    private HttpBlockStore(string url)
    {
        _base = url.TrimEnd('/');
        Url = StoreUrl.Redact(_base);
        _http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
    }

    public string Url { get; }

    public bool IsReadOnly => true;

    public static HttpBlockStore Open(string url) => new(url);

    public async Task<bool> ExistsAsync(ReadOnlyMemory<byte> id, CancellationToken cancellationToken = default) =>
        await GetAsync(id, cancellationToken).ConfigureAwait(false) is not null;

    public Task PutAsync(ReadOnlyMemory<byte> id, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default) =>
        throw new BlockStoreException($"{Url}: http(s) stores are read-only");

    public async Task<byte[]?> GetAsync(ReadOnlyMemory<byte> id, CancellationToken cancellationToken = default)
    {
        string hex = Convert.ToHexStringLower(id.Span);
        foreach (var u in new[] { $"{_base}/{hex[..2]}/{hex}", $"{_base}/{hex}" })
        {
            HttpResponseMessage response;
            try
            {
                response = await _http.GetAsync(u, cancellationToken).ConfigureAwait(false);
            }
            catch (HttpRequestException e)
            {
                throw new BlockStoreException($"{Url}: cannot fetch block {hex}: {StoreUrl.Scrub(e.Message, _base)}", e);
            }
            using (response)
            {
                if (response.StatusCode == HttpStatusCode.NotFound) continue;
                if (response.StatusCode != HttpStatusCode.OK)
                    throw new BlockStoreException($"{Url}: block {hex}: HTTP {(int)response.StatusCode}");
                return await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        return null;
    }

    public ValueTask DisposeAsync()
    {
        _http.Dispose();
        return ValueTask.CompletedTask;
    }
}
