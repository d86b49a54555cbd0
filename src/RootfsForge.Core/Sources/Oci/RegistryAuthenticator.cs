using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;

namespace RootfsForge.Sources.Oci;

/// <summary>
/// The <c>Authorization</c> a registry wants, learned from its challenges: nothing until it answers 401; HTTP Basic
/// with the stored credentials after a <c>Basic</c> challenge; a bearer token after a <c>Bearer</c> challenge, fetched
/// from the challenge's realm (docker's token authentication spec: <c>GET realm?service=…&amp;scope=…</c>, with Basic
/// credentials when there are any) and fetched again when it expires or when the registry answers 401 to it.
/// </summary>
internal sealed class RegistryAuthenticator
{
    /// <summary>The token spec: "When omitted, [expires_in] defaults to 60 seconds."</summary>
    private static readonly TimeSpan DefaultTokenLifetime = TimeSpan.FromSeconds(60);
    private const int MaxTokenResponse = 1 << 20;

    private readonly string _registry;
    private readonly string _defaultScope;
    private readonly RegistryCredential? _credential;
    private readonly Func<Uri, bool> _mayCarryCredentials;
    private readonly Func<Func<HttpRequestMessage>, CancellationToken, Task<HttpResponseMessage>> _send;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private AuthChallenge? _bearer;
    private bool _basic;
    private string? _token;
    private DateTime _tokenRefreshAt;

    /// <param name="registry">The registry's name, for messages.</param>
    /// <param name="repository">The repository; the default token scope is <c>repository:NAME:pull</c>.</param>
    /// <param name="credential">Credentials from the files, or null.</param>
    /// <param name="mayCarryCredentials">Whether a URL may be sent credentials (HTTPS, or a listed insecure host).</param>
    /// <param name="send">Sends a request with the registry client's retries.</param>
    public RegistryAuthenticator(string registry, string repository, RegistryCredential? credential,
        Func<Uri, bool> mayCarryCredentials, Func<Func<HttpRequestMessage>, CancellationToken, Task<HttpResponseMessage>> send)
    {
        _registry = registry;
        _defaultScope = $"repository:{repository}:pull";
        _credential = credential;
        _mayCarryCredentials = mayCarryCredentials;
        _send = send;
    }

    /// <summary>Number of tokens fetched (for tests and diagnostics).</summary>
    public int TokensFetched { get; private set; }

    /// <summary>Why a request may still be refused with 401, for the error message (never the secret itself).</summary>
    public string UnauthorizedHint => _credential is null
        ? "no credentials for it were found"
        : _basic || _bearer is not null ? $"it refused the {_credential}" : $"{_credential} were not asked for";

    /// <summary>The header for the next registry request, fetching a new token when the current one has expired.</summary>
    public async Task<AuthenticationHeaderValue?> GetHeaderAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_bearer is not null)
            {
                if (_token is null || DateTime.UtcNow >= _tokenRefreshAt)
                    await FetchTokenAsync(_bearer, cancellationToken).ConfigureAwait(false);
                return new AuthenticationHeaderValue("Bearer", _token);
            }
            if (_basic && _credential is not null) return new AuthenticationHeaderValue("Basic", _credential.BasicParameter);
            return null;
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Handles a 401 to a request sent with <paramref name="sent"/>: learns the scheme and gets what it asks for.
    /// Returns true when a retry can succeed; throws <see cref="RegistryException"/> when it cannot (no credentials for
    /// Basic, the token service refused). Concurrent requests share one renewal.
    /// </summary>
    public async Task<bool> HandleUnauthorizedAsync(HttpResponseMessage response, AuthenticationHeaderValue? sent, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var challenges = AuthChallenge.From(response.Headers);
            if (challenges.FirstOrDefault(c => c.IsBearer) is { } bearer && bearer["realm"] is { Length: > 0 })
            {
                // Another request already renewed the token this one was sent with: just retry.
                if (_bearer is not null && _token is not null && sent?.Scheme == "Bearer" && sent.Parameter != _token) return true;
                _bearer = bearer;
                _basic = false;
                await FetchTokenAsync(bearer, cancellationToken).ConfigureAwait(false);
                return true;
            }
            if (challenges.Any(c => c.IsBasic))
            {
                if (_credential is null)
                    throw new RegistryException($"registry {_registry} requires authentication and no credentials for it were found", HttpStatusCode.Unauthorized, "UNAUTHORIZED");
                if (sent?.Scheme == "Basic")
                    throw new RegistryException($"registry {_registry} refused the {_credential}", HttpStatusCode.Unauthorized, "UNAUTHORIZED");
                if (!_mayCarryCredentials(response.RequestMessage!.RequestUri!))
                    throw new RegistryException($"registry {_registry} asks for a password over plain HTTP; list it as an insecure registry to allow that", HttpStatusCode.Unauthorized);
                _basic = true;
                return true;
            }
            return false;
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task FetchTokenAsync(AuthChallenge challenge, CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(challenge["realm"], UriKind.Absolute, out var realm) || (realm.Scheme != Uri.UriSchemeHttps && realm.Scheme != Uri.UriSchemeHttp))
            throw new RegistryException($"registry {_registry} names an invalid token realm");
        string scope = challenge["scope"] is { Length: > 0 } s ? s : _defaultScope;
        var query = new List<string>();
        if (challenge["service"] is { Length: > 0 } service) query.Add("service=" + Uri.EscapeDataString(service));
        foreach (var one in scope.Split(' ', StringSplitOptions.RemoveEmptyEntries)) query.Add("scope=" + Uri.EscapeDataString(one));
        var builder = new UriBuilder(realm);
        builder.Query = string.Join('&', new[] { builder.Query.TrimStart('?') }.Where(q => q.Length > 0).Concat(query));
        var uri = builder.Uri;
        bool withCredentials = _credential is not null;
        if (withCredentials && !_mayCarryCredentials(uri))
            throw new RegistryException(
                $"the token service of registry {_registry} ({uri.GetLeftPart(UriPartial.Authority)}) is plain HTTP; credentials are sent there only when it is listed as an insecure registry");

        using var response = await _send(() =>
        {
            var request = new HttpRequestMessage(HttpMethod.Get, uri);
            if (withCredentials) request.Headers.Authorization = new AuthenticationHeaderValue("Basic", _credential!.BasicParameter);
            return request;
        }, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
        {
            throw new RegistryException(withCredentials
                ? $"the token service of registry {_registry} refused the {_credential}"
                : $"registry {_registry} requires authentication and no credentials for it were found", response.StatusCode, "UNAUTHORIZED");
        }
        if (!response.IsSuccessStatusCode)
            throw new RegistryException($"the token service of registry {_registry} answered {(int)response.StatusCode} {response.ReasonPhrase}", response.StatusCode);

        var body = await ReadLimitedAsync(response, cancellationToken).ConfigureAwait(false);
        string? token;
        long? expiresIn;
        try
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            token = Str(root, "token") ?? Str(root, "access_token");
            expiresIn = root.TryGetProperty("expires_in", out var e) && e.ValueKind == JsonValueKind.Number && e.TryGetInt64(out long n) ? n : null;
        }
        catch (JsonException)
        {
            throw new RegistryException($"the token service of registry {_registry} sent a reply that is not JSON");
        }
        if (string.IsNullOrEmpty(token))
            throw new RegistryException($"the token service of registry {_registry} sent no token");
        var lifetime = expiresIn is > 0 ? TimeSpan.FromSeconds(expiresIn.Value) : DefaultTokenLifetime;
        // Renew a little before the end, so a token does not expire between the check and the request.
        _tokenRefreshAt = DateTime.UtcNow + lifetime - TimeSpan.FromTicks(Math.Min(lifetime.Ticks / 10, TimeSpan.TicksPerSecond * 10));
        _token = token;
        TokensFetched++;

        static string? Str(JsonElement root, string name) =>
            root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
    }

    private static async Task<byte[]> ReadLimitedAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        using var ms = new MemoryStream();
        var buffer = new byte[16384];
        int n;
        while ((n = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
        {
            if (ms.Length + n > MaxTokenResponse) throw new RegistryException("the token service's reply is too large");
            ms.Write(buffer, 0, n);
        }
        return ms.ToArray();
    }
}
