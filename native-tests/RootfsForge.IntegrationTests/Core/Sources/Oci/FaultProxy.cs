using System.Collections.Concurrent;

namespace RootfsForge.NativeTests.Oci;

/// <summary>A request the proxy saw: what was asked, whether it carried credentials or a Range, and the answer's status.</summary>
internal sealed record ProxyLogEntry(string Method, string Target, string? Authorization, string? Range, int Status);

/// <summary>
/// A reverse proxy in front of a real registry that can inject faults: a <see cref="Rule"/> sees each request and may
/// answer it itself (an error status, a cut connection, a redirect, a changed body) or let it through. Every request is
/// logged, so tests can count blob downloads and check headers.
/// </summary>
internal sealed class FaultProxy : IDisposable
{
    private readonly HttpClient _upstream = new(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false });
    private readonly string _upstreamOrigin;
    private readonly LoopbackHttpServer _server;
    private readonly ConcurrentQueue<ProxyLogEntry> _log = new();

    public FaultProxy(string upstreamOrigin)
    {
        _upstreamOrigin = upstreamOrigin.TrimEnd('/');
        _server = new LoopbackHttpServer(HandleAsync);
    }

    /// <summary><c>127.0.0.1:PORT</c>, the registry name to use in references.</summary>
    public string Host => $"127.0.0.1:{_server.Port}";

    /// <summary>
    /// Decides about each request: return true when it answered the exchange itself (e.g. with
    /// <see cref="ForwardAsync"/> and a cut, or <see cref="HttpExchange.RespondAsync"/>); false to pass it on untouched.
    /// </summary>
    public Func<HttpExchange, FaultProxy, Task<bool>>? Rule { get; set; }

    public IReadOnlyList<ProxyLogEntry> Log => _log.ToArray();

    public void ClearLog() => _log.Clear();

    /// <summary>GET requests for blobs (not manifests) that got an answer with a body.</summary>
    public IReadOnlyList<ProxyLogEntry> BlobGets => Log.Where(e => e.Method == "GET" && e.Target.Contains("/blobs/sha256:")).ToArray();

    private async Task HandleAsync(HttpExchange exchange)
    {
        if (Rule is { } rule && await rule(exchange, this)) return;
        await ForwardAsync(exchange);
    }

    /// <summary>Records that the rule answered <paramref name="exchange"/> with <paramref name="status"/>.</summary>
    public void Record(HttpExchange exchange, int status) =>
        _log.Enqueue(new ProxyLogEntry(exchange.Method, exchange.Target, exchange.Header("Authorization"), exchange.Header("Range"), status));

    /// <summary>
    /// Passes the request to the registry and its answer back; <paramref name="cutAfter"/> closes the connection after
    /// that many body bytes (a connection lost mid-blob); <paramref name="transform"/> may change the body (and drops
    /// the registry's Docker-Content-Digest then).
    /// </summary>
    public async Task ForwardAsync(HttpExchange exchange, int? cutAfter = null, Func<byte[], byte[]>? transform = null)
    {
        using var request = new HttpRequestMessage(new HttpMethod(exchange.Method), _upstreamOrigin + exchange.Target);
        foreach (var (k, v) in exchange.Headers)
        {
            if (k is "Host" or "Connection" or "Content-Length" or "Content-Type") continue;
            request.Headers.TryAddWithoutValidation(k, v);
        }
        if (exchange.Body.Length > 0 || exchange.Method is "PUT" or "POST" or "PATCH")
        {
            request.Content = new ByteArrayContent(exchange.Body);
            if (exchange.Header("Content-Type") is { } ct) request.Content.Headers.TryAddWithoutValidation("Content-Type", ct);
        }
        using var response = await _upstream.SendAsync(request);
        var body = await response.Content.ReadAsByteArrayAsync();
        var headers = response.Headers.Concat(response.Content.Headers)
            .Where(h => h.Key is not ("Transfer-Encoding" or "Connection" or "Content-Length"))
            .Where(h => transform is null || h.Key != "Docker-Content-Digest")
            .Select(h => KeyValuePair.Create(h.Key, string.Join(", ", h.Value))).ToList();
        if (transform is not null) body = transform(body);
        Record(exchange, (int)response.StatusCode);
        if (cutAfter is int cut && cut < body.Length)
        {
            await exchange.WriteHeadAsync((int)response.StatusCode, body.Length, headers);
            await exchange.Connection.WriteAsync(body.AsMemory(0, cut));
            await exchange.Connection.FlushAsync();
            return; // the server closes the connection: the client sees the body end early
        }
        await exchange.RespondAsync((int)response.StatusCode, body, headers);
    }

    public void Dispose()
    {
        _server.Dispose();
        _upstream.Dispose();
    }
}
