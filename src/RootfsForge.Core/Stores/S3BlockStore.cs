using System.Net;
using System.Security.Cryptography;

namespace RootfsForge.Stores;

/// <summary>
/// <c>s3://KEY:SECRET@host:port/bucket?region=R</c> (http) and <c>s3s://…</c> (https): path-style
/// <c>PUT/GET/HEAD {endpoint}/{bucket}/{hex id}</c>, signed with SigV4 when credentials are given
/// (docs/flist-format.md §6). The port is mandatory.
/// </summary>
internal sealed class S3BlockStore : IBlockStore
{
    private const int MaxAttempts = 4;
    private readonly HttpClient _http;
    private readonly Uri _bucketUri;
    private readonly S3Signer? _signer;
    private readonly string? _secret;

    private S3BlockStore(Uri bucketUri, S3Signer? signer, string? secret, string url)
    {
        _bucketUri = bucketUri;
        _signer = signer;
        _secret = secret;
        Url = url;
        _http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 16, PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
        {
            Timeout = TimeSpan.FromSeconds(120),
        };
    }

    public string Url { get; }

    public bool IsReadOnly => false;

    public static S3BlockStore Open(string url)
    {
        string redacted = StoreUrl.Redact(url);
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
            throw new ArgumentException($"bad S3 URL '{redacted}'");
        int authorityEnd = url.IndexOf('/', url.IndexOf("://", StringComparison.Ordinal) + 3);
        string authority = authorityEnd < 0 ? url : url[..authorityEnd];
        int hostStart = authority.LastIndexOf('@') + 1;
        if (!authority[Math.Max(hostStart, authority.IndexOf("://", StringComparison.Ordinal) + 3)..].Contains(':'))
            throw new ArgumentException($"S3 URL '{redacted}' has no port (the port is mandatory)");
        string bucket = Uri.UnescapeDataString(uri.AbsolutePath).Trim('/');
        if (bucket.Length == 0 || bucket.Contains('/'))
            throw new ArgumentException($"S3 URL '{redacted}' must name exactly one bucket as its path");
        string region = "us-east-1";
        foreach (var p in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
            if (p.StartsWith("region=", StringComparison.Ordinal)) region = Uri.UnescapeDataString(p[7..]);
        var (user, password) = StoreUrl.UserInfo(uri);
        string scheme = uri.Scheme.Equals("s3s", StringComparison.OrdinalIgnoreCase) ? "https" : "http";
        var bucketUri = new Uri($"{scheme}://{(uri.HostNameType == UriHostNameType.IPv6 ? $"[{uri.DnsSafeHost}]" : uri.Host)}:{uri.Port}/{Uri.EscapeDataString(bucket)}/");
        var signer = string.IsNullOrEmpty(user) || string.IsNullOrEmpty(password) ? null : new S3Signer(user, password, region);
        return new S3BlockStore(bucketUri, signer, password, redacted);
    }

    private Uri ObjectUri(ReadOnlySpan<byte> id) => new(_bucketUri, Convert.ToHexStringLower(id));

    public async Task<bool> ExistsAsync(ReadOnlyMemory<byte> id, CancellationToken cancellationToken = default)
    {
        var uri = ObjectUri(id.Span);
        using var response = await SendAsync(() => NewRequest(HttpMethod.Head, uri, null), "HEAD", id, cancellationToken)
            .ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound) return false;
        EnsureSuccess(response, "HEAD", id);
        return true;
    }

    public async Task PutAsync(ReadOnlyMemory<byte> id, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        var uri = ObjectUri(id.Span);
        using var response = await SendAsync(() => NewRequest(HttpMethod.Put, uri, data), "PUT", id, cancellationToken)
            .ConfigureAwait(false);
        EnsureSuccess(response, "PUT", id);
    }

    public async Task<byte[]?> GetAsync(ReadOnlyMemory<byte> id, CancellationToken cancellationToken = default)
    {
        var uri = ObjectUri(id.Span);
        using var response = await SendAsync(() => NewRequest(HttpMethod.Get, uri, null), "GET", id, cancellationToken)
            .ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound) return null;
        EnsureSuccess(response, "GET", id);
        return await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
    }

    private HttpRequestMessage NewRequest(HttpMethod method, Uri uri, ReadOnlyMemory<byte>? body)
    {
        var request = new HttpRequestMessage(method, uri);
        string payloadHash = S3Signer.EmptyPayloadHash;
        if (body is { } b)
        {
            request.Content = new ReadOnlyMemoryContent(b);
            request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/octet-stream");
            payloadHash = Convert.ToHexStringLower(SHA256.HashData(b.Span));
        }
        _signer?.Sign(request, payloadHash, DateTimeOffset.UtcNow);
        return request;
    }

    /// <summary>Sends with retries on connection errors and 5xx (every request here is idempotent: same id, same bytes).</summary>
    private async Task<HttpResponseMessage> SendAsync(Func<HttpRequestMessage> make, string what, ReadOnlyMemory<byte> id,
        CancellationToken ct)
    {
        for (int attempt = 1; ; attempt++)
        {
            using var request = make();
            try
            {
                var response = await _http.SendAsync(request, ct).ConfigureAwait(false);
                if ((int)response.StatusCode >= 500 && attempt < MaxAttempts)
                {
                    response.Dispose();
                }
                else
                {
                    return response;
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                if (attempt >= MaxAttempts)
                    throw new BlockStoreException(
                        $"{Url}: {what} {Convert.ToHexStringLower(id.Span)} failed after {attempt} attempts: " +
                        StoreUrl.Scrub(e.Message, _secret), e);
            }
            await Task.Delay(TimeSpan.FromMilliseconds(100 * (1 << (attempt - 1))), ct).ConfigureAwait(false);
        }
    }

    private void EnsureSuccess(HttpResponseMessage response, string what, ReadOnlyMemory<byte> id)
    {
        if (response.IsSuccessStatusCode) return;
        throw new BlockStoreException(
            $"{Url}: {what} {Convert.ToHexStringLower(id.Span)}: HTTP {(int)response.StatusCode} {response.ReasonPhrase}");
    }

    public ValueTask DisposeAsync()
    {
        _http.Dispose();
        return ValueTask.CompletedTask;
    }
}
