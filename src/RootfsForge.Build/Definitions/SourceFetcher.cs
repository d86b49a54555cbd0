using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace RootfsForge.Definitions;

/// <summary>
/// Downloads a <see cref="UrlSource"/> into a content-addressed cache (<c>CACHE/sha256/HEX</c>) and verifies it before
/// anything reads it: the file is streamed to <c>CACHE/partial/HEX.part</c>, hashed, and renamed into place only when its
/// SHA-256 is the expected one. A dropped connection is resumed with an HTTP <c>Range</c> request (a server that answers
/// 200 instead of 206 restarts the download); a cached file is used without a request.
/// </summary>
public sealed partial class SourceFetcher : IDisposable
{
    /// <summary>The cache used when none is given: <c>$ROOTFSFORGE_CACHE</c>, else <c>$XDG_CACHE_HOME/rootfsforge</c>, else <c>~/.cache/rootfsforge</c>.</summary>
    public static string DefaultCacheDirectory =>
        Environment.GetEnvironmentVariable("ROOTFSFORGE_CACHE") is { Length: > 0 } c ? c
        : Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } x ? x
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "rootfsforge");

    /// <summary>How often a dropped download is resumed before giving up.</summary>
    private const int MaxAttempts = 5;

    /// <summary>A checksum file is a few KiB; more is refused.</summary>
    private const int MaxChecksumFile = 4 << 20;

    private readonly HttpClient _http;
    private readonly string _cache;
    private readonly Action<string> _progress;

    /// <summary>A fetcher with its own <see cref="HttpClient"/>.</summary>
    public SourceFetcher(string? cacheDirectory = null, Action<string>? progress = null)
    {
        _cache = Path.GetFullPath(cacheDirectory ?? DefaultCacheDirectory);
        _progress = progress ?? (_ => { });
        _http = new HttpClient(new SocketsHttpHandler { AutomaticDecompression = DecompressionMethods.None }) { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("rootfsforge/" + typeof(SourceFetcher).Assembly.GetName().Version?.ToString(3));
    }

    /// <summary>
    /// The expected SHA-256 of <paramref name="source"/>: its <see cref="UrlSource.Sha256"/>, or the line for the URL's
    /// file name in its checksum file (GNU <c>HEX  NAME</c> / <c>HEX *NAME</c> or BSD <c>SHA256 (NAME) = HEX</c>).
    /// </summary>
    /// <exception cref="InvalidDataException">The checksum file has no line for the image.</exception>
    /// <exception cref="HttpRequestException">The checksum file cannot be fetched.</exception>
    public async Task<string> ExpectedSha256Async(UrlSource source, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (source.Sha256 is { } pinned) return pinned;
        var sums = source.Sha256Sums!;
        using var response = await _http.GetAsync(sums, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        response.EnsureSuccessStatusCode();
        if (response.Content.Headers.ContentLength > MaxChecksumFile)
            throw new InvalidDataException($"{sums}: checksum file larger than {MaxChecksumFile} bytes");
        var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        var name = Uri.UnescapeDataString(source.Url.Segments[^1]);
        return FindSha256(text, name) ?? throw new InvalidDataException($"{sums}: no SHA-256 for {name}");
    }

    /// <summary>The SHA-256 (lower-case hex) for <paramref name="name"/> in a checksum file, or null.</summary>
    internal static string? FindSha256(string text, string name)
    {
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            var m = GnuLine().Match(line);
            if (m.Success && m.Groups[2].Value == name) return m.Groups[1].Value.ToLowerInvariant();
            m = BsdLine().Match(line);
            if (m.Success && m.Groups[1].Value == name) return m.Groups[2].Value.ToLowerInvariant();
        }
        return null;
    }

    /// <summary>
    /// The cached file holding <paramref name="url"/>'s content with SHA-256 <paramref name="sha256"/>, downloaded when
    /// not cached yet.
    /// </summary>
    /// <exception cref="ImageFormatException">The download's SHA-256 is not the expected one (ChecksumMismatch); nothing is kept.</exception>
    /// <exception cref="HttpRequestException">The server refused (404, …) or could not be reached, also after the resumes.</exception>
    public async Task<string> FetchAsync(Uri url, string sha256, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (sha256.Length != 64 || !sha256.All(char.IsAsciiHexDigitLower)) throw new ArgumentException("expected 64 lower-case hex digits", nameof(sha256));
        var final = Path.Combine(_cache, "sha256", sha256);
        if (File.Exists(final))
        {
            _progress($"    {url}: cached ({final})");
            return final;
        }
        Directory.CreateDirectory(Path.Combine(_cache, "sha256"));
        Directory.CreateDirectory(Path.Combine(_cache, "partial"));
        var part = Path.Combine(_cache, "partial", sha256 + ".part");
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                await DownloadAsync(url, part, cancellationToken).ConfigureAwait(false);
                break;
            }
            catch (Exception e) when (attempt < MaxAttempts && !cancellationToken.IsCancellationRequested
                                      && e is IOException or HttpRequestException { StatusCode: null or >= HttpStatusCode.InternalServerError })
            {
                _progress($"    {url}: {e.Message}; resuming at {new FileInfo(part).Length} bytes (attempt {attempt + 1} of {MaxAttempts})");
                await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt), cancellationToken).ConfigureAwait(false);
            }
        }
        string actual;
        await using (var f = File.OpenRead(part))
            actual = Convert.ToHexStringLower(await SHA256.HashDataAsync(f, cancellationToken).ConfigureAwait(false));
        if (actual != sha256)
        {
            File.Delete(part);
            throw new ImageFormatException($"{url}: SHA-256 is {actual}, the definition expects {sha256}; nothing was built",
                kind: ImageErrorKind.ChecksumMismatch);
        }
        File.Move(part, final, overwrite: true);
        return final;
    }

    /// <summary>Appends the rest of <paramref name="url"/> to <paramref name="part"/> (all of it when the server ignores Range).</summary>
    private async Task DownloadAsync(Uri url, string part, CancellationToken cancellationToken)
    {
        long have = File.Exists(part) ? new FileInfo(part).Length : 0;
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (have > 0) request.Headers.Range = new RangeHeaderValue(have, null);
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        if (have > 0 && response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable)
        {
            // The part is complete (or longer than the file): start over so the hash decides.
            File.Delete(part);
            throw new IOException("the server has no bytes past the partial download");
        }
        response.EnsureSuccessStatusCode();
        bool append = have > 0 && response.StatusCode == HttpStatusCode.PartialContent;
        if (!append) have = 0;
        long? total = response.Content.Headers.ContentLength is long n ? n + have : null;
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using var file = new FileStream(part, append ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true);
        var buffer = new byte[1 << 16];
        long done = have, reported = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        int read;
        while ((read = await body.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
        {
            await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
            done += read;
            if (clock.ElapsedMilliseconds - reported >= 1000)
            {
                reported = clock.ElapsedMilliseconds;
                _progress(total is long t ? $"    download: {done / 1048576.0:F1} of {t / 1048576.0:F1} MiB" : $"    download: {done / 1048576.0:F1} MiB");
            }
        }
        if (total is long expected && done != expected)
            throw new IOException($"the connection ended after {done} of {expected} bytes");
        _progress($"    download: {done / 1048576.0:F1} MiB done");
    }

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();

    [GeneratedRegex(@"^([0-9A-Fa-f]{64}) [ *](.+)$")]
    private static partial Regex GnuLine();

    [GeneratedRegex(@"^SHA256 \((.+)\) = ([0-9A-Fa-f]{64})$")]
    private static partial Regex BsdLine();
}
