using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.ServerSentEvents;
using System.Net.Sockets;
using RootfsForge.Stores;

namespace RootfsForge.Hub;

/// <summary>
/// Client of the 0-hub HTTP API (docs/flist-format.md §9): uploads a rootfs tar.gz, which the hub turns into a legacy
/// <c>.flist</c>, follows the hub's conversion job when it answers with one, and waits until the flist can be
/// downloaded. The token is sent only in the <c>Authorization: bearer</c> header of the calls that need it and never
/// appears in messages.
/// </summary>
public sealed class HubClient : IDisposable
{
    /// <summary>The environment variable holding the hub token.</summary>
    public const string TokenVariable = "RFS_HUB_TOKEN";

    private const int MaxAttempts = 3;
    private static readonly TimeSpan MaxPollDelay = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan MaxPollTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan MaxReconnectDelay = TimeSpan.FromSeconds(5);
    private readonly HttpClient _http;
    private readonly Uri _hub;
    private readonly string _token;
    private readonly HubClientOptions _options;

    /// <summary>Creates a client for the hub at <paramref name="hub"/> (e.g. <c>https://hub.grid.tf/</c>).</summary>
    public HubClient(Uri hub, string token, HubClientOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(hub);
        ArgumentException.ThrowIfNullOrWhiteSpace(token);
        _hub = hub;
        _token = token.Trim();
        _options = options ?? new HubClientOptions();
        // Redirects are not followed: API calls are answered directly, and the hub's web routes redirect to a login page
        // whose HTML would otherwise be read as the answer. Each call bounds its own time (HubClientOptions).
        _http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }) { Timeout = Timeout.InfiniteTimeSpan };
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
    /// Uploads <paramref name="tarGz"/> as <c>{name}.tar.gz</c> (<c>POST {hub}/api/flist/me/upload</c>, multipart field
    /// <c>file</c>) and returns once the hub made the flist and it can be downloaded.
    /// </summary>
    /// <remarks>
    /// A seekable stream is sent with a <c>Content-Length</c> (its remaining length); any other stream is sent chunked
    /// while it is read. A failure before any byte of the archive was read is retried, and a seekable stream is rewound
    /// and retried on any connection error; a stream partly sent is not. The hub answers either with the flist
    /// (<c>payload.name</c>) or with a job id, whose progress is followed at <c>/listen/&lt;id&gt;</c> (server-sent
    /// events, reported through <paramref name="progress"/>) until the job succeeds or fails; a dropped progress stream is
    /// reopened. After success the client waits until <c>{hub}/{user}/{name}.flist.md5</c> answers.
    /// </remarks>
    /// <exception cref="HubException">The hub refused the upload, its conversion failed, or a wait timed out; the message
    /// carries the hub's reason.</exception>
    public async Task<HubUploadResult> PushAsync(Stream tarGz, string name, IProgress<HubProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(tarGz);
        string fileName = FileNameFor(name);
        string expected = fileName[..^".tar.gz".Length] + ".flist";
        var (answer, body) = await UploadAsync(tarGz, fileName, cancellationToken).ConfigureAwait(false);
        string flist = answer.PayloadName is { Length: > 0 } named ? named : expected;
        string response = body;
        string? lostJob = null;
        if (answer.JobId is { } jobId)
        {
            var (jobFlist, lastEvent) = await FollowJobAsync(jobId, fileName, progress, cancellationToken).ConfigureAwait(false);
            // No result seen: the hub no longer knows the job (its end was read by a connection that then broke), so
            // whether the flist appears decides.
            if (jobFlist is null) lostJob = jobId;
            flist = jobFlist ?? expected;
            response = lastEvent ?? body;
        }
        var (user, url, md5) = await WaitForFlistAsync(flist, lostJob, cancellationToken).ConfigureAwait(false);
        return new HubUploadResult(flist, Scrub(response)) { JobId = answer.JobId, User = user, FlistUrl = url, Md5 = md5 };
    }

    private async Task<(HubAnswer Answer, string Body)> UploadAsync(Stream tarGz, string fileName, CancellationToken cancellationToken)
    {
        long start = tarGz.CanSeek ? tarGz.Position : 0;
        long? length = tarGz.CanSeek ? tarGz.Length - start : null;
        var uri = new Uri(_hub, "api/flist/me/upload");
        for (int attempt = 1; ; attempt++)
        {
            var file = new UploadFileContent(tarGz, length);
            file.Headers.ContentType = new MediaTypeHeaderValue("application/gzip");
            using var form = new MultipartFormDataContent { { file, "file", fileName } };
            using var request = new HttpRequestMessage(HttpMethod.Post, uri) { Content = form };
            Authorize(request);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_options.UploadTimeout);
            try
            {
                using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, timeout.Token)
                    .ConfigureAwait(false);
                string body = await response.Content.ReadAsStringAsync(timeout.Token).ConfigureAwait(false);
                return (Interpret(response, body, "upload"), body);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new HubException($"the upload to {Redacted(uri)} did not finish within {Describe(_options.UploadTimeout)}");
            }
            catch (Exception e) when (e is HttpRequestException or IOException && e is not HubException
                                          && !cancellationToken.IsCancellationRequested)
            {
                bool replayable = file.BytesRead == 0 || tarGz.CanSeek;
                if (attempt < MaxAttempts && replayable && IsConnectionFailure(e))
                {
                    if (tarGz.CanSeek) tarGz.Position = start;
                    await Task.Delay(TimeSpan.FromMilliseconds(500 * attempt), cancellationToken).ConfigureAwait(false);
                    continue;
                }
                throw new HubException($"upload to {Redacted(uri)} failed: {Scrub(e.Message)}" +
                    (replayable ? "" : " (the stream was partly sent and cannot be replayed; not retried)"), null, e);
            }
        }
    }

    /// <summary>
    /// Reads the job's server-sent events at <c>/listen/&lt;id&gt;</c> until its result: the flist name and the last
    /// event's data, or (null, null) when the hub answers 404 (it forgets a job once a listener read its end). An
    /// <c>error</c> event throws. A stream that ends or breaks before the result is reopened up to
    /// <see cref="HubClientOptions.MaxStreamReconnects"/> times: the hub keeps the job's events queued meanwhile.
    /// </summary>
    private async Task<(string? FileName, string? LastEvent)> FollowJobAsync(string jobId, string fileName,
        IProgress<HubProgress>? progress, CancellationToken cancellationToken)
    {
        var uri = new Uri(_hub, "listen/" + Uri.EscapeDataString(jobId));
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.JobTimeout);
        string problem = "";
        for (int reconnects = 0; ; reconnects++)
        {
            if (reconnects > 0)
            {
                if (reconnects > _options.MaxStreamReconnects)
                    throw new HubException($"lost the hub's progress stream for job {jobId} ({fileName}) " +
                        $"{reconnects} times; last: {problem}");
                await DelayAsync(TimeSpan.FromMilliseconds(500 * reconnects), MaxReconnectDelay, timeout.Token, cancellationToken)
                    .ConfigureAwait(false);
            }
            try
            {
                // /listen is public: no token is sent there.
                using var request = new HttpRequestMessage(HttpMethod.Get, uri);
                request.Headers.Accept.ParseAdd("text/event-stream");
                using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token)
                    .ConfigureAwait(false);
                int code = (int)response.StatusCode;
                if (response.StatusCode == HttpStatusCode.NotFound) return (null, null);
                if (code >= 300)
                {
                    string body = await response.Content.ReadAsStringAsync(timeout.Token).ConfigureAwait(false);
                    string reason = Reason(HubAnswer.Parse(body), body);
                    if (code < 500) throw new HubException($"the hub refused the progress stream of job {jobId} (HTTP {code}): {reason}", code);
                    problem = $"HTTP {code}: {reason}";
                    continue;
                }
                await using var stream = await response.Content.ReadAsStreamAsync(timeout.Token).ConfigureAwait(false);
                await foreach (var item in SseParser.Create(stream).EnumerateAsync(timeout.Token).ConfigureAwait(false))
                {
                    var e = HubJobEvent.Parse(item.Data);
                    switch (e.Status)
                    {
                        case "update":
                            progress?.Report(new HubProgress(Scrub(e.Message ?? ""), e.Progress));
                            break;
                        case "info":
                            return (e.FileName, item.Data);
                        case "error":
                            throw new HubException($"the hub failed to convert {fileName} (job {jobId}): {Scrub(e.Message ?? item.Data)}");
                    }
                }
                problem = "the stream ended before the job's result";
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new HubException($"the hub's job {jobId} ({fileName}) did not finish within {Describe(_options.JobTimeout)}");
            }
            catch (Exception e) when (e is HttpRequestException or IOException && e is not HubException
                                          && !cancellationToken.IsCancellationRequested)
            {
                problem = Scrub(e.Message);
            }
        }
    }

    /// <summary>
    /// Waits until the flist can be downloaded: <c>GET {hub}/{user}/{name}.flist.md5</c> (what ZOS fetches next to the
    /// flist) answers an MD5, polled within <see cref="HubClientOptions.PublishTimeout"/>. The user is the token's
    /// (<c>GET /api/flist/me</c>).
    /// </summary>
    private async Task<(string User, Uri Url, string Md5)> WaitForFlistAsync(string flist, string? lostJob,
        CancellationToken cancellationToken)
    {
        string user = await WhoAmIAsync(cancellationToken).ConfigureAwait(false);
        string baseName = flist.EndsWith(".flist", StringComparison.Ordinal) ? flist[..^".flist".Length] : flist;
        var url = new Uri(_hub, Uri.EscapeDataString(user) + "/" + Uri.EscapeDataString(baseName) + ".flist");
        var md5Url = new Uri(url + ".md5");
        var clock = Stopwatch.StartNew();
        var delay = TimeSpan.FromMilliseconds(250);
        string last = "no answer";
        // One poll may run past the deadline by up to this much: a poll cut short would say nothing about the flist.
        var pollTimeout = _options.PublishTimeout < MaxPollTimeout ? _options.PublishTimeout : MaxPollTimeout;
        while (true)
        {
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(pollTimeout);
                using var response = await _http.GetAsync(md5Url, timeout.Token).ConfigureAwait(false);
                string body = (await response.Content.ReadAsStringAsync(timeout.Token).ConfigureAwait(false)).Trim();
                if (response.StatusCode == HttpStatusCode.OK && IsMd5(body)) return (user, url, body);
                last = $"HTTP {(int)response.StatusCode}";
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                last = "no answer in time";
            }
            catch (HttpRequestException e) when (!cancellationToken.IsCancellationRequested)
            {
                last = Scrub(e.Message);
            }
            if (clock.Elapsed >= _options.PublishTimeout)
                throw new HubException(lostJob is null
                    ? $"the hub reported {flist} as made, but {Redacted(md5Url)} did not answer within " +
                      $"{Describe(_options.PublishTimeout)} (last: {last})"
                    : $"the hub's progress stream for job {lostJob} ended without the job's result, and {Redacted(md5Url)} " +
                      $"did not answer within {Describe(_options.PublishTimeout)} (last: {last}); the conversion may have failed");
            await DelayAsync(delay, _options.PublishTimeout - clock.Elapsed, cancellationToken, cancellationToken).ConfigureAwait(false);
            delay = delay * 2 < MaxPollDelay ? delay * 2 : MaxPollDelay;
        }
    }

    /// <summary><c>GET /api/flist/me</c>: the user the token belongs to.</summary>
    private async Task<string> WhoAmIAsync(CancellationToken cancellationToken)
    {
        var uri = new Uri(_hub, "api/flist/me");
        using var request = new HttpRequestMessage(HttpMethod.Get, uri);
        Authorize(request);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.PublishTimeout);
        try
        {
            using var response = await _http.SendAsync(request, timeout.Token).ConfigureAwait(false);
            string body = await response.Content.ReadAsStringAsync(timeout.Token).ConfigureAwait(false);
            var answer = Interpret(response, body, "user lookup (GET /api/flist/me)");
            return answer.PayloadUsername is { Length: > 0 } user && !user.Contains('/')
                ? user
                : throw new HubException($"the hub's answer to GET /api/flist/me names no user: {Reason(answer, body)}");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new HubException($"{Redacted(uri)} did not answer within {Describe(_options.PublishTimeout)}");
        }
        catch (HttpRequestException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new HubException($"asking {Redacted(uri)} for the token's user failed: {Scrub(e.Message)}", null, e);
        }
    }

    private void Authorize(HttpRequestMessage request) =>
        request.Headers.TryAddWithoutValidation("Authorization", "bearer " + _token);

    private static async Task DelayAsync(TimeSpan delay, TimeSpan cap, CancellationToken token, CancellationToken caller)
    {
        var wait = delay < cap ? delay : cap;
        if (wait <= TimeSpan.Zero) return;
        try
        {
            await Task.Delay(wait, token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!caller.IsCancellationRequested)
        {
            // A timeout ends the wait; the caller's next step reports it.
        }
    }

    private static bool IsConnectionFailure(Exception e) =>
        e is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError }
        || e.InnerException is SocketException;

    private static bool IsMd5(string text) => text.Length == 32 && text.All(char.IsAsciiHexDigit);

    /// <summary>Turns a hub answer into a <see cref="HubAnswer"/> or a <see cref="HubException"/> (docs/flist-format.md §9).</summary>
    private HubAnswer Interpret(HttpResponseMessage response, string body, string what)
    {
        var answer = HubAnswer.Parse(body);
        string reason = Reason(answer, body);
        int code = (int)response.StatusCode;
        if (code is 401 or 403)
            throw new HubException($"the hub refused the token (HTTP {code}): {reason}", code);
        if (code == 400)
            throw new HubException($"the hub rejected the {what} (HTTP 400; a read-only hub answers 400 to every call): {reason}", code);
        if (code is >= 300 and < 400)
            throw new HubException($"the hub answered the {what} with a redirect (HTTP {code} to " +
                $"{Scrub(response.Headers.Location?.ToString() ?? "nowhere")}), not with an answer", code);
        if (code >= 400)
            throw new HubException($"the hub failed the {what} (HTTP {code}): {reason}", code);
        if (answer.Status == "error")
            throw new HubException($"the hub reported an error for the {what}: {reason}", code);
        if (answer.Status != "success")
            throw new HubException($"unexpected answer to the {what} from {Redacted(_hub)} (HTTP {code}): {reason}", code);
        return answer;
    }

    private string Reason(HubAnswer answer, string body) =>
        Scrub(answer.Message ?? (body.Length > 300 ? body[..300] + "…" : body)).Trim();

    private static string FileNameFor(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (name.Contains('/') || name.Contains('\\') || name.Contains('"') || name.Any(char.IsControl))
            throw new ArgumentException($"bad flist name '{name}'", nameof(name));
        return name.EndsWith(".tar.gz", StringComparison.Ordinal) ? name : name + ".tar.gz";
    }

    private static string Describe(TimeSpan t) => t.TotalSeconds < 120
        ? t.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture) + " s"
        : t.TotalMinutes.ToString("0.#", CultureInfo.InvariantCulture) + " min";

    private string Scrub(string text) => StoreUrl.Scrub(text, _token);

    private static string Redacted(Uri uri) => StoreUrl.Redact(uri.ToString());

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();
}
