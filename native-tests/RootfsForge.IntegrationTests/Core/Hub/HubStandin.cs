using System.Net.Http.Json;
using System.Text.Json;
using RootfsForge.NativeTests.Flist;
using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Hub;

/// <summary>
/// The 0-hub stand-in (tools/hub-standin/hub-standin.py: Flask/werkzeug, the hub's own stack) on a free 127.0.0.1 port,
/// one per test class. Tests call <see cref="ResetAsync"/> first (switches back to the start, request log emptied),
/// <see cref="ConfigureAsync"/> to simulate failures, and read what the hub received from <see cref="Requests"/>.
/// Without Debian's python3-flask every test skips with the reason (a class fixture must not throw a skip).
/// </summary>
public sealed class HubStandin : IDisposable
{
    /// <summary>The user the stand-in gives <see cref="Token"/> to.</summary>
    public const string User = "alice";

    /// <summary>The accepted token (never expected in any message or log).</summary>
    public const string Token = "standin-TOKEN-7c1e4a9f-secret";

    private readonly ServerProcess? _server;
    private readonly HttpClient _http = new();

    public HubStandin()
    {
        string? python = FindFlaskPython();
        if (python is null)
        {
            SkipReason = "needs Debian's python3-flask for the hub stand-in (tools/setup.sh installs it)";
            return;
        }
        DataDir = TestEnvironment.NewTempDir("rff-hubstandin");
        string tokens = Path.Combine(DataDir, "tokens");
        File.WriteAllText(tokens, $"{User} {Token}\n");
        LogPath = Path.Combine(DataDir, "requests.jsonl");
        string script = Path.Combine(TestEnvironment.RepoRoot, "tools", "hub-standin", "hub-standin.py");
        _server = ServerProcess.Start(python, port => [script, "--port", port.ToString(), "--data", Path.Combine(DataDir, "hub"),
            "--tokens", tokens, "--log", LogPath, "--keep-workspace"]);
        Url = new Uri($"http://127.0.0.1:{_server.Port}/");
    }

    public string? SkipReason { get; }
    public string DataDir { get; } = "";
    public string LogPath { get; } = "";
    public Uri Url { get; } = new("http://127.0.0.1:1/");

    /// <summary>Where the stand-in publishes <paramref name="flist"/> of <see cref="User"/>.</summary>
    public string PublishedPath(string flist) => Path.Combine(DataDir, "hub", "users", User, flist);

    /// <summary>Skips the calling test when the stand-in could not start.</summary>
    public void Require() => Skip.If(SkipReason is not null, SkipReason);

    public async Task ResetAsync()
    {
        if (SkipReason is not null) return;
        using var response = await _http.PostAsync(new Uri(Url, "_standin/reset"), null);
        response.EnsureSuccessStatusCode();
    }

    /// <summary>Sets switches (see tools/hub-standin/README.md), e.g. <c>new { async_api = true }</c>.</summary>
    public async Task ConfigureAsync(object switches)
    {
        using var response = await _http.PostAsJsonAsync(new Uri(Url, "_standin/config"), switches);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>The request log: one JSON object per request (and per job end, publication, progress stream end).</summary>
    public List<JsonElement> Requests() =>
        File.ReadAllLines(LogPath).Where(l => l.Length > 0).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();

    /// <summary>The log record of the upload of <paramref name="fileName"/> (the job-end record for an asynchronous one).</summary>
    public JsonElement UploadOf(string fileName)
    {
        var log = Requests();
        var jobEnd = log.Where(r => Str(r, "kind") == "job-end"
                                    && Str(r.GetProperty("upload"), "filename") == fileName).ToList();
        if (jobEnd.Count > 0) return jobEnd.Single().GetProperty("upload");
        return log.Single(r => Str(r, "path") == "/api/flist/me/upload" && r.TryGetProperty("upload", out var u)
                               && Str(u, "filename") == fileName).GetProperty("upload");
    }

    /// <summary>The request record of the upload of <paramref name="fileName"/> (headers, status).</summary>
    public JsonElement UploadRequestOf(string fileName) =>
        Requests().Single(r => Str(r, "path") == "/api/flist/me/upload" && r.TryGetProperty("upload", out var u)
                               && Str(u, "filename") == fileName);

    public static string? Str(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String
            ? v.GetString()
            : null;

    /// <summary>Debian's python3 first (python3-flask installs there), then python3 on PATH, whichever imports Flask.</summary>
    private static string? FindFlaskPython()
    {
        foreach (string? candidate in new[] { "/usr/bin/python3", TestEnvironment.FindOnPath("python3") })
        {
            if (candidate is null || !File.Exists(candidate)) continue;
            var (code, _, _) = TestEnvironment.Run(candidate, ["-c", "import flask, werkzeug"], timeout: TimeSpan.FromSeconds(30));
            if (code == 0) return candidate;
        }
        return null;
    }

    public void Dispose()
    {
        _server?.Dispose();
        _http.Dispose();
        if (DataDir.Length > 0)
        {
            try
            {
                Directory.Delete(DataDir, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
    }
}
