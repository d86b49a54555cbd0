using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text.Json;
using RootfsForge.Stores;

namespace RootfsForge.Hub;

/// <summary>
/// Client of the 0-hub HTTP API (flist-format.md §9): uploads a rootfs tar.gz, which the hub turns into a legacy
/// <c>.flist</c>. The token is sent only in the <c>Authorization: bearer</c> header and never appears in messages.
/// </summary>
public sealed class HubClient : IDisposable
{
    /// <summary>The environment variable holding the hub token.</summary>
    public const string TokenVariable = "RFS_HUB_TOKEN";

    private const int MaxAttempts = 3;
    private readonly HttpClient _http;
    private readonly Uri _hub;
    private readonly string _token;

    /// <summary>Creates a client for the hub at <paramref name="hub"/> (e.g. <c>https://hub.grid.tf</c>).</summary>
    public HubClient(Uri hub, string token, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(hub);
        ArgumentException.ThrowIfNullOrWhiteSpace(token);
        _hub = hub;
        _token = token.Trim();
        _http = new HttpClient { Timeout = timeout ?? TimeSpan.FromMinutes(30) };
    }

    /// <summary>
    /// The token from <see cref="TokenVariable"/>, else from <paramref name="tokenFile"/> (first line, trimmed).
    /// Throws when neither gives one. Tokens are never taken from the command line.
    /// </summary>
    public static string ResolveToken(string? tokenFile)
    {
        if (tokenFile is not null)
        {
            if (!File.Exists(tokenFile)) throw new FileNotFoundException($"token file '{tokenFile}' does not exist", tokenFile);
            string t = File.ReadLines(tokenFile).FirstOrDefault()?.Trim() ?? "";
            if (t.Length == 0) throw new InvalidDataException($"token file '{tokenFile}' is empty");
            return t;
        }
        string? env = Environment.GetEnvironmentVariable(TokenVariable);
        if (!string.IsNullOrWhiteSpace(env)) return env.Trim();
        throw new InvalidOperationException($"no hub token: set {TokenVariable} or pass a token file");
    }

    /// <summary>
    /// <c>POST {hub}/api/flist/me/upload</c> with <paramref name="tarGz"/> streamed as multipart field <c>file</c> named
    /// <c>{name}.tar.gz</c>. A failure before any byte of the body was sent is retried (a seekable stream is rewound
    /// and retried on any connection error); afterwards it is not, since the stream cannot be replayed.
    /// </summary>
    /// <exception cref="HubException">The hub refused or failed the upload; the message carries its reason.</exception>
    public async Task<HubUploadResult> PushAsync(Stream tarGz, string name, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tarGz);
        string fileName = FileNameFor(name);
        long start = tarGz.CanSeek ? tarGz.Position : 0;
        var uri = new Uri(_hub, "api/flist/me/upload");
        for (int attempt = 1; ; attempt++)
        {
            var counting = new CountingReadStream(tarGz);
            using var request = new HttpRequestMessage(HttpMethod.Post, uri);
            request.Headers.TryAddWithoutValidation("Authorization", "bearer " + _token);
            var file = new StreamContent(counting, 81920);
            file.Headers.ContentType = new MediaTypeHeaderValue("application/gzip");
            var form = new MultipartFormDataContent { { file, "file", fileName } };
            request.Content = form;
            HttpResponseMessage response;
            try
            {
                response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken)
                    .ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpRequestException or IOException && !cancellationToken.IsCancellationRequested)
            {
                bool replayable = counting.BytesRead == 0 || tarGz.CanSeek;
                if (attempt < MaxAttempts && replayable && IsConnectionFailure(e))
                {
                    if (tarGz.CanSeek) tarGz.Position = start;
                    await Task.Delay(TimeSpan.FromMilliseconds(500 * attempt), cancellationToken).ConfigureAwait(false);
                    continue;
                }
                throw new HubException($"upload to {Redacted(uri)} failed: {Scrub(e.Message)}" +
                    (replayable ? "" : " (the stream was partly sent and cannot be replayed; not retried)"), null, e);
            }
            using (response)
            {
                string body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
                return Interpret(response.StatusCode, body, uri);
            }
        }
    }

    private static bool IsConnectionFailure(Exception e) =>
        e is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError }
        || e.InnerException is SocketException;

    private HubUploadResult Interpret(HttpStatusCode status, string body, Uri uri)
    {
        string? hubStatus = null, message = null, payloadName = null;
        try
        {
            using var doc = JsonDocument.Parse(body);
            var root = doc.RootElement;
            if (root.ValueKind == JsonValueKind.Object)
            {
                if (root.TryGetProperty("status", out var s) && s.ValueKind == JsonValueKind.String) hubStatus = s.GetString();
                if (root.TryGetProperty("message", out var m) && m.ValueKind == JsonValueKind.String) message = m.GetString();
                if (root.TryGetProperty("payload", out var p) && p.ValueKind == JsonValueKind.Object
                    && p.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String)
                    payloadName = n.GetString();
            }
        }
        catch (JsonException)
        {
        }
        string reason = Scrub(message ?? (body.Length > 300 ? body[..300] + "…" : body)).Trim();
        int code = (int)status;
        if (code == 401 || code == 403)
            throw new HubException($"the hub refused the token (HTTP {code}): {reason}", code);
        if (code == 400)
            throw new HubException($"the hub rejected the upload (HTTP 400; a read-only hub answers 400 to every call): {reason}", code);
        if (code >= 300)
            throw new HubException($"the hub failed the upload (HTTP {code}): {reason}", code);
        if (hubStatus == "error")
            throw new HubException($"the hub reported an error: {reason}", code);
        if (hubStatus != "success")
            throw new HubException($"unexpected answer from {Redacted(uri)} (HTTP {code}): {reason}", code);
        return new HubUploadResult(payloadName ?? "", Scrub(body));
    }

    private static string FileNameFor(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (name.Contains('/') || name.Contains('\\') || name.Contains('"') || name.Any(char.IsControl))
            throw new ArgumentException($"bad flist name '{name}'", nameof(name));
        return name.EndsWith(".tar.gz", StringComparison.Ordinal) ? name : name + ".tar.gz";
    }

    private string Scrub(string text) => StoreUrl.Scrub(text, _token);

    private static string Redacted(Uri uri) => StoreUrl.Redact(uri.ToString());

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();

    /// <summary>Counts bytes read through it, to know whether a request body was (partly) sent. Does not own the inner stream.</summary>
    private sealed class CountingReadStream(Stream inner) : Stream
    {
        public long BytesRead;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => BytesRead; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));

        public override int Read(Span<byte> buffer) => Count(inner.Read(buffer));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Count(await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        private int Count(int n)
        {
            BytesRead += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

/// <summary>A successful upload.</summary>
/// <param name="Name">The flist name the hub reports (e.g. <c>myimage.flist</c>).</param>
/// <param name="Response">The hub's JSON answer.</param>
public sealed record HubUploadResult(string Name, string Response);

/// <summary>The hub refused or failed a request. The message never contains the token.</summary>
public sealed class HubException : IOException
{
    /// <summary>Creates the exception.</summary>
    public HubException(string message, int? statusCode = null, Exception? inner = null) : base(message, inner) =>
        StatusCode = statusCode;

    /// <summary>The HTTP status, when the hub answered.</summary>
    public int? StatusCode { get; }
}
