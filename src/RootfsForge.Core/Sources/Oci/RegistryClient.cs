using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;

namespace RootfsForge.Sources.Oci;

/// <summary>
/// Speaks the OCI distribution API v2 for one repository: manifests by tag or digest, blobs with <c>Range</c> resumption.
/// Authentication (<see cref="RegistryAuthenticator"/>), bounded retries with backoff on 429, 5xx and connection
/// errors (honouring <c>Retry-After</c>), and redirects (followed here, never carrying the registry's
/// <c>Authorization</c> to another origin or down to plain HTTP).
/// </summary>
internal sealed class RegistryClient : IDisposable
{
    internal const int MaxAttempts = 5;
    private const int MaxRedirects = 5;
    private const int MaxErrorBody = 64 << 10;
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(4);
    private static readonly TimeSpan MaxRetryAfter = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan ResponseTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan ReadIdleTimeout = TimeSpan.FromSeconds(60);

    private readonly HttpClient _http;
    private readonly string _registry;
    private readonly string _host;
    private readonly string _repository;
    private readonly IReadOnlyList<string> _insecure;
    private readonly RegistryAuthenticator _auth;
    private Uri? _base;

    public RegistryClient(ImageReference reference, RegistryCredential? credential, IReadOnlyList<string> insecureRegistries)
    {
        _registry = reference.Registry!;
        _host = reference.RegistryHost!;
        _repository = reference.Repository!;
        _insecure = insecureRegistries;
        var handler = new HttpClientHandler
        {
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            // Certificates are checked as usual, except for hosts the caller listed as insecure.
            ServerCertificateCustomValidationCallback = (request, _, _, errors) =>
                errors == System.Net.Security.SslPolicyErrors.None || (request.RequestUri is { } u && IsInsecure(u)),
        };
        _http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("rootfsforge/" + typeof(RegistryClient).Assembly.GetName().Version?.ToString(3));
        _auth = new RegistryAuthenticator(_registry, _repository, credential, MayCarryCredentials,
            (make, ct) => SendAsync(make, authenticate: false, ct));
    }

    /// <summary>Bearer tokens fetched so far.</summary>
    public int TokensFetched => _auth.TokensFetched;

    /// <summary>Fetches a manifest by tag or digest; returns its bytes, the served media type and <c>Docker-Content-Digest</c>.</summary>
    public async Task<(byte[] Body, string? MediaType, string? DigestHeader)> GetManifestAsync(string reference, CancellationToken cancellationToken)
    {
        var uri = new Uri(await BaseAsync(cancellationToken).ConfigureAwait(false), $"v2/{_repository}/manifests/{reference}");
        string what = $"manifest {_registry}/{_repository}{(reference.Contains(':') ? "@" : ":")}{reference}";
        for (int attempt = 1; ; attempt++)
        {
            using var response = await SendAsync(() =>
            {
                var request = new HttpRequestMessage(HttpMethod.Get, uri);
                foreach (var type in MediaTypes.ManifestAccept) request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(type));
                return request;
            }, authenticate: true, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode) throw await ErrorAsync(response, what, cancellationToken).ConfigureAwait(false);
            if (response.Content.Headers.ContentLength > ManifestDocument.MaxSize)
                throw new ImageFormatException($"is larger than {ManifestDocument.MaxSize} bytes", what);
            try
            {
                var body = await ReadAllAsync(response, ManifestDocument.MaxSize, what, cancellationToken).ConfigureAwait(false);
                string? digest = response.Headers.TryGetValues("Docker-Content-Digest", out var v) ? v.FirstOrDefault() : null;
                return (body, response.Content.Headers.ContentType?.MediaType, digest);
            }
            catch (Exception e) when (IsTransient(e, cancellationToken) && attempt < MaxAttempts)
            {
                await DelayAsync(attempt, null, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Downloads a blob into <paramref name="partial"/>, resuming with <c>Range</c> from what it holds. A foreign
    /// layer is fetched from its <c>urls</c> (without the registry's credentials). The caller verifies and commits.
    /// </summary>
    public async Task DownloadBlobAsync(Descriptor blob, PartialBlob partial, Action<long> onBytes, CancellationToken cancellationToken)
    {
        if (MediaTypes.IsForeignLayer(blob.MediaType))
        {
            var urls = blob.Urls.Select(u => Uri.TryCreate(u, UriKind.Absolute, out var uri) && uri.Scheme is "https" or "http" ? uri : null)
                .OfType<Uri>().ToArray();
            if (urls.Length == 0)
                throw new UnsupportedImageException("is a foreign (non-distributable) layer without http(s) urls to fetch it from", $"layer {blob.Digest}");
            for (int i = 0; ; i++)
            {
                try
                {
                    await DownloadFromAsync(urls[i], authenticate: false, blob, partial, onBytes, cancellationToken).ConfigureAwait(false);
                    return;
                }
                catch (RegistryException) when (i + 1 < urls.Length)
                {
                    partial.Reset();
                }
            }
        }
        var blobUri = new Uri(await BaseAsync(cancellationToken).ConfigureAwait(false), $"v2/{_repository}/blobs/{blob.Digest}");
        await DownloadFromAsync(blobUri, authenticate: true, blob, partial, onBytes, cancellationToken).ConfigureAwait(false);
    }

    private async Task DownloadFromAsync(Uri uri, bool authenticate, Descriptor blob, PartialBlob partial, Action<long> onBytes,
        CancellationToken cancellationToken)
    {
        string what = $"blob {blob.Digest}";
        int failures = 0;
        while (true)
        {
            long start = partial.Length;
            if (start > 0) partial.MarkResumed();
            using var response = await SendAsync(() =>
            {
                var request = new HttpRequestMessage(HttpMethod.Get, uri);
                if (start > 0) request.Headers.Range = new RangeHeaderValue(start, null);
                return request;
            }, authenticate, cancellationToken).ConfigureAwait(false);

            if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && start > 0)
            {
                // Everything is there already (or the partial file is longer than the blob): let the check decide.
                if (start >= blob.Size) return;
                partial.Reset();
                continue;
            }
            if (!response.IsSuccessStatusCode) throw await ErrorAsync(response, what, cancellationToken).ConfigureAwait(false);
            if (start > 0 && !(response.StatusCode == HttpStatusCode.PartialContent && response.Content.Headers.ContentRange?.From == start))
                partial.Reset(); // the server sent the whole blob (200) or another range: start over
            else if (start == 0 && response.StatusCode == HttpStatusCode.PartialContent && response.Content.Headers.ContentRange?.From is > 0)
                throw new RegistryException($"the server sent part of {what} that was not asked for", response.StatusCode);

            try
            {
                await CopyBodyAsync(response, partial, onBytes, cancellationToken).ConfigureAwait(false);
                return; // a body that ends early without an error is a short blob: the size check reports it
            }
            catch (Exception e) when (IsTransient(e, cancellationToken))
            {
                failures = partial.Length > start ? 1 : failures + 1; // progress renews the retry budget
                if (failures >= MaxAttempts)
                    throw new RegistryException($"downloading {what} from {Origin(uri)} failed {failures} times in a row: {e.Message}", null, null, e);
                await DelayAsync(failures, null, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private static async Task CopyBodyAsync(HttpResponseMessage response, PartialBlob partial, Action<long> onBytes, CancellationToken cancellationToken)
    {
        using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        var buffer = ArrayPool<byte>.Shared.Rent(256 << 10);
        try
        {
            while (true)
            {
                int n;
                using (var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
                {
                    idle.CancelAfter(ReadIdleTimeout);
                    try
                    {
                        n = await stream.ReadAsync(buffer, idle.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                    {
                        throw new TimeoutException($"no data for {ReadIdleTimeout.TotalSeconds:0} s");
                    }
                }
                if (n == 0) return;
                await partial.AppendAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
                onBytes(n);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Sends a request with retries (connection errors, timeouts, 429, 5xx; backoff 0.25 s doubling to 4 s, or the
    /// server's Retry-After up to 30 s; at most <see cref="MaxAttempts"/> tries), following redirects, and, for
    /// registry requests, with authentication.
    /// </summary>
    private async Task<HttpResponseMessage> SendAsync(Func<HttpRequestMessage> make, bool authenticate, CancellationToken cancellationToken)
    {
        for (int attempt = 1; ; attempt++)
        {
            HttpResponseMessage response;
            try
            {
                response = await SendAuthenticatedAsync(make, authenticate, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (IsTransient(e, cancellationToken))
            {
                if (attempt >= MaxAttempts)
                    throw new RegistryException($"cannot reach {Origin(make().RequestUri!)} (registry {_registry}) after {attempt} tries: {Describe(e)}", null, null, e);
                await DelayAsync(attempt, null, cancellationToken).ConfigureAwait(false);
                continue;
            }
            catch (HttpRequestException e)
            {
                // Not worth retrying: TLS failure, unknown host, …
                throw new RegistryException($"cannot reach {Origin(make().RequestUri!)} (registry {_registry}): {Describe(e)}", null, null, e);
            }
            if (attempt < MaxAttempts && ((int)response.StatusCode == 429 || (int)response.StatusCode >= 500))
            {
                var retryAfter = RetryAfter(response);
                response.Dispose();
                await DelayAsync(attempt, retryAfter, cancellationToken).ConfigureAwait(false);
                continue;
            }
            return response;
        }
    }

    private async Task<HttpResponseMessage> SendAuthenticatedAsync(Func<HttpRequestMessage> make, bool authenticate, CancellationToken cancellationToken)
    {
        for (bool retried = false; ; retried = true)
        {
            var header = authenticate ? await _auth.GetHeaderAsync(cancellationToken).ConfigureAwait(false) : null;
            var response = await SendFollowingRedirectsAsync(make(), header, cancellationToken).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.Unauthorized || !authenticate || retried
                || !SameOrigin(response.RequestMessage!.RequestUri!, _base!))
                return response;
            bool again;
            try
            {
                again = await _auth.HandleUnauthorizedAsync(response, header, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                response.Dispose();
                throw;
            }
            if (!again) return response;
            response.Dispose();
        }
    }

    private async Task<HttpResponseMessage> SendFollowingRedirectsAsync(HttpRequestMessage request, AuthenticationHeaderValue? authorization,
        CancellationToken cancellationToken)
    {
        // The registry's credentials go only to the registry's own origin.
        if (authorization is not null && _base is not null && SameOrigin(request.RequestUri!, _base))
            request.Headers.Authorization = authorization;
        for (int hop = 0; ; hop++)
        {
            HttpResponseMessage response;
            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                timeout.CancelAfter(ResponseTimeout);
                try
                {
                    response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    request.Dispose();
                    throw new TimeoutException($"no answer from {Origin(request.RequestUri!)} within {ResponseTimeout.TotalSeconds:0} s");
                }
                catch
                {
                    request.Dispose();
                    throw;
                }
            }
            if ((int)response.StatusCode is not (301 or 302 or 303 or 307 or 308) || response.Headers.Location is not { } location)
                return response;
            var from = request.RequestUri!;
            var next = location.IsAbsoluteUri ? location : new Uri(from, location);
            response.Dispose();
            if (hop + 1 >= MaxRedirects)
                throw new RegistryException($"registry {_registry}: more than {MaxRedirects} redirects from {Origin(from)}");
            if (next.Scheme != Uri.UriSchemeHttps && !(next.Scheme == Uri.UriSchemeHttp && (from.Scheme == Uri.UriSchemeHttp || IsInsecure(next))))
                throw new RegistryException($"registry {_registry} redirected to {Origin(next)}, which is not HTTPS");
            var nextRequest = new HttpRequestMessage(request.Method == HttpMethod.Head ? HttpMethod.Head : HttpMethod.Get, next);
            foreach (var h in request.Headers)
                if (h.Key != "Authorization") nextRequest.Headers.TryAddWithoutValidation(h.Key, h.Value);
            if (authorization is not null && request.Headers.Authorization is not null && SameOrigin(next, _base!))
                nextRequest.Headers.Authorization = authorization;
            request.Dispose();
            request = nextRequest;
        }
    }

    /// <summary>The registry's base URI: HTTPS; for a listed insecure registry, HTTPS if it answers, else HTTP.</summary>
    private async Task<Uri> BaseAsync(CancellationToken cancellationToken)
    {
        if (_base is not null) return _base;
        var https = new Uri($"https://{_host}/");
        if (!_insecure.Contains(_registry, StringComparer.OrdinalIgnoreCase) && !_insecure.Contains(_host, StringComparer.OrdinalIgnoreCase))
            return _base = https;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(10));
            using var probe = await _http.GetAsync(new Uri(https, "v2/"), HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            return _base = https;
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return _base = new Uri($"http://{_host}/");
        }
    }

    private bool IsInsecure(Uri uri) => _insecure.Any(e =>
        e.Equals(uri.Host, StringComparison.OrdinalIgnoreCase)
        || e.Equals($"{uri.Host}:{uri.Port.ToString(CultureInfo.InvariantCulture)}", StringComparison.OrdinalIgnoreCase));

    private bool MayCarryCredentials(Uri uri) => uri.Scheme == Uri.UriSchemeHttps || IsInsecure(uri);

    private static bool SameOrigin(Uri a, Uri b) =>
        a.Scheme == b.Scheme && a.Port == b.Port && string.Equals(a.Host, b.Host, StringComparison.OrdinalIgnoreCase);

    private static string Origin(Uri uri) => uri.GetLeftPart(UriPartial.Authority);

    private static bool IsTransient(Exception e, CancellationToken cancellationToken) => !cancellationToken.IsCancellationRequested && e switch
    {
        HttpRequestException h => h.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.ResponseEnded
            or HttpRequestError.Unknown or HttpRequestError.InvalidResponse or HttpRequestError.HttpProtocolError,
        TimeoutException => true,
        IOException and not ImageFormatException and not RegistryException => true,
        _ => false,
    };

    /// <summary>The exception's message with its inner exceptions' (TLS and socket errors hide there).</summary>
    private static string Describe(Exception e)
    {
        var parts = new List<string>();
        for (var x = e; x is not null && parts.Count < 3; x = x.InnerException)
            if (!parts.Contains(x.Message)) parts.Add(x.Message);
        return string.Join(": ", parts);
    }

    private static TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var ra = response.Headers.RetryAfter;
        TimeSpan? delay = ra?.Delta ?? (ra?.Date is { } date ? date - DateTimeOffset.UtcNow : null);
        if (delay is null) return null;
        return delay < TimeSpan.Zero ? TimeSpan.Zero : delay > MaxRetryAfter ? MaxRetryAfter : delay;
    }

    private static Task DelayAsync(int attempt, TimeSpan? retryAfter, CancellationToken cancellationToken)
    {
        var backoff = TimeSpan.FromTicks(Math.Min(MaxBackoff.Ticks, FirstBackoff.Ticks << Math.Min(attempt - 1, 10)));
        return Task.Delay(retryAfter ?? backoff, cancellationToken);
    }

    private static async Task<byte[]> ReadAllAsync(HttpResponseMessage response, int limit, string what, CancellationToken cancellationToken)
    {
        using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        using var ms = new MemoryStream();
        var buffer = new byte[64 << 10];
        int n;
        while ((n = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
        {
            if (ms.Length + n > limit) throw new ImageFormatException($"is larger than {limit} bytes", what);
            ms.Write(buffer, 0, n);
        }
        return ms.ToArray();
    }

    /// <summary>The exception for an error answer, with the registry's error code and message (never request headers).</summary>
    private async Task<RegistryException> ErrorAsync(HttpResponseMessage response, string what, CancellationToken cancellationToken)
    {
        string? code = null, message = null;
        try
        {
            var body = await ReadAllAsync(response, MaxErrorBody, what, cancellationToken).ConfigureAwait(false);
            using var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("errors", out var errors)
                && errors.ValueKind == JsonValueKind.Array && errors.GetArrayLength() > 0 && errors[0].ValueKind == JsonValueKind.Object)
            {
                var first = errors[0];
                code = first.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null;
                message = first.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
                if (message is { Length: > 200 }) message = message[..200] + "…";
            }
        }
        catch (Exception e) when (e is JsonException or IOException or HttpRequestException)
        {
            // No usable error body: the status says enough.
        }
        int status = (int)response.StatusCode;
        string reason = status switch
        {
            401 => "authentication failed",
            403 => "access denied",
            404 => "not found",
            429 => "too many requests (still, after retries)",
            >= 500 => "server error (still, after retries)",
            _ => "refused",
        };
        string detail = code is null ? "" : message is null ? $" ({code})" : $" ({code}: {message})";
        if (status == 401) detail += "; " + _auth.UnauthorizedHint;
        return new RegistryException($"registry {_registry}: {what}: {reason}: HTTP {status}{detail}", response.StatusCode, code);
    }

    public void Dispose() => _http.Dispose();
}
