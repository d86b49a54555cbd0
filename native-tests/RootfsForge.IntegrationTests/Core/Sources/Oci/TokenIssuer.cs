using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;

namespace RootfsForge.NativeTests.Oci;

/// <summary>
/// A token service for the registry's <c>auth: token</c> mode (docker's token authentication spec): <c>GET
/// /token?service=S&amp;scope=repository:NAME:ACTIONS</c>, HTTP Basic credentials checked against one user, answered
/// with <c>{"token", "access_token", "expires_in", "issued_at"}</c>. Tokens are RS256 JWTs signed with a key whose
/// self-signed certificate is the registry's <c>rootcertbundle</c>.
/// </summary>
/// <remarks>
/// distribution 2.8's <c>registry/auth/token/token.go</c> (VerifySigningKey) finds the signing key from the JWT header
/// in this order: <c>x5c</c> (a certificate chain verified up to the bundle's roots), <c>jwk</c>, or <c>kid</c> — a
/// libtrust key ID of one of the bundle certificates' public keys: SHA-256 of the DER SubjectPublicKeyInfo, cut to 240
/// bits, base32 in 12 groups of 4 joined by ':'. It also checks <c>iss</c> (the configured issuer), <c>aud</c> (the
/// service), <c>exp</c>/<c>nbf</c> with 60 s leeway, and the <c>access</c> claim against the request.
/// </remarks>
internal sealed class TokenIssuer : IDisposable
{
    private readonly RSA _key = RSA.Create(2048);
    private readonly X509Certificate2 _certificate;
    private readonly LoopbackHttpServer _server;
    private readonly ConcurrentQueue<string> _scopes = new();
    private int _issued;

    public TokenIssuer(string user, string password, bool useKeyId = false, int expiresIn = 300, bool anonymousPull = false)
    {
        User = user;
        Password = password;
        UseKeyId = useKeyId;
        ExpiresIn = expiresIn;
        AnonymousPull = anonymousPull;
        var request = new CertificateRequest("CN=rootfsforge test token issuer", _key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyCertSign, true));
        _certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(1));
        _server = new LoopbackHttpServer(HandleAsync);
    }

    public const string Service = "rootfsforge-test-registry";
    public const string Issuer = "rootfsforge-test-issuer";

    public string User { get; }

    public string Password { get; }

    /// <summary>Sign with a <c>kid</c> header (libtrust key ID) instead of <c>x5c</c>.</summary>
    public bool UseKeyId { get; }

    public int ExpiresIn { get; set; }

    public bool AnonymousPull { get; }

    public string Realm => $"{_server.Origin}/token";

    /// <summary><c>127.0.0.1:PORT</c>: plain HTTP, so it must be listed as insecure for credentials to be sent.</summary>
    public string Host => $"127.0.0.1:{_server.Port}";

    /// <summary>Tokens issued so far.</summary>
    public int Issued => Volatile.Read(ref _issued);

    public IReadOnlyList<string> Scopes => _scopes.ToArray();

    /// <summary>The certificate as PEM, for the registry's <c>rootcertbundle</c>.</summary>
    public string CertificatePem => _certificate.ExportCertificatePem() + "\n";

    /// <summary>libtrust's key ID of the signing key.</summary>
    public string KeyId
    {
        get
        {
            var hash = SHA256.HashData(_key.ExportSubjectPublicKeyInfo()).AsSpan(0, 30);
            var b32 = Base32(hash);
            return string.Join(':', Enumerable.Range(0, b32.Length / 4).Select(i => b32.Substring(i * 4, 4)));
        }
    }

    private async Task HandleAsync(HttpExchange exchange)
    {
        if (exchange.Path != "/token")
        {
            await exchange.RespondAsync(404);
            return;
        }
        var query = exchange.Query.Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=', 2)).Select(p => (Key: Uri.UnescapeDataString(p[0]), Value: p.Length > 1 ? Uri.UnescapeDataString(p[1]) : ""))
            .ToArray();
        string? subject = null;
        if (exchange.Header("Authorization") is { } auth)
        {
            if (!auth.StartsWith("Basic ", StringComparison.Ordinal)
                || Encoding.UTF8.GetString(Convert.FromBase64String(auth[6..])) != $"{User}:{Password}")
            {
                await exchange.RespondAsync(401, Encoding.UTF8.GetBytes("{\"details\":\"invalid credentials\"}"),
                    [KeyValuePair.Create("Content-Type", "application/json")]);
                return;
            }
            subject = User;
        }
        var access = new List<object>();
        foreach (var scope in query.Where(q => q.Key == "scope").Select(q => q.Value))
        {
            _scopes.Enqueue(scope);
            int first = scope.IndexOf(':'), last = scope.LastIndexOf(':');
            if (first < 0 || last <= first) continue;
            var actions = scope[(last + 1)..].Split(',');
            if (subject is null) actions = AnonymousPull ? actions.Where(a => a == "pull").ToArray() : [];
            access.Add(new { type = scope[..first], name = scope[(first + 1)..last], actions });
        }
        long now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var header = UseKeyId
            ? (object)new { typ = "JWT", alg = "RS256", kid = KeyId }
            : new { typ = "JWT", alg = "RS256", x5c = new[] { Convert.ToBase64String(_certificate.RawData) } };
        var claims = new
        {
            iss = Issuer, sub = subject ?? "", aud = query.FirstOrDefault(q => q.Key == "service").Value ?? Service,
            exp = now + ExpiresIn, nbf = now - 10, iat = now, jti = Guid.NewGuid().ToString("N"), access,
        };
        string signingInput = B64Url(JsonSerializer.SerializeToUtf8Bytes(header)) + "." + B64Url(JsonSerializer.SerializeToUtf8Bytes(claims));
        string jwt = signingInput + "." + B64Url(_key.SignData(Encoding.ASCII.GetBytes(signingInput), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
        Interlocked.Increment(ref _issued);
        var body = JsonSerializer.SerializeToUtf8Bytes(new
        {
            token = jwt, access_token = jwt, expires_in = ExpiresIn, issued_at = DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ"),
        });
        await exchange.RespondAsync(200, body, [KeyValuePair.Create("Content-Type", "application/json")]);
    }

    private static string B64Url(byte[] data) => Convert.ToBase64String(data).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static string Base32(ReadOnlySpan<byte> data)
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        var sb = new StringBuilder();
        int buffer = 0, bits = 0;
        foreach (byte b in data)
        {
            buffer = (buffer << 8) | b;
            bits += 8;
            while (bits >= 5)
            {
                sb.Append(alphabet[(buffer >> (bits - 5)) & 31]);
                bits -= 5;
            }
        }
        if (bits > 0) sb.Append(alphabet[(buffer << (5 - bits)) & 31]);
        return sb.ToString();
    }

    public void Dispose()
    {
        _server.Dispose();
        _certificate.Dispose();
        _key.Dispose();
    }
}
