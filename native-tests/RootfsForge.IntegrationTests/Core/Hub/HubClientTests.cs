using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using RootfsForge.Hub;
using RootfsForge.NativeTests.Flist;
using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Hub;

/// <summary><see cref="HubClient"/> against the Flask hub stand-in (docs/flist-format.md §9).</summary>
public class HubClientTests(HubStandin hub) : IClassFixture<HubStandin>, IAsyncLifetime
{
    private const string Token = HubStandin.Token;

    private static readonly HubClientOptions Fast = new()
    {
        PublishTimeout = TimeSpan.FromSeconds(5), JobTimeout = TimeSpan.FromSeconds(60), MaxStreamReconnects = 3,
    };

    public Task InitializeAsync() => hub.ResetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    private static string SmallTarGz(string dir)
    {
        TestEnvironment.RequireTool("tar");
        var root = Path.Combine(dir, "tree");
        Directory.CreateDirectory(Path.Combine(root, "etc"));
        File.WriteAllText(Path.Combine(root, "etc", "hostname"), "forge\n");
        File.WriteAllBytes(Path.Combine(root, "big.bin"), TreeFixtures.Random(3_000_000, 5));
        File.CreateSymbolicLink(Path.Combine(root, "link"), "etc/hostname");
        HubTrees.ClampTimes(root);
        return HubTrees.TarGz(root, Path.Combine(dir, "rootfs.tar.gz"));
    }

    private HubClient Client(string token = Token, HubClientOptions? options = null) => new(hub.Url, token, options ?? Fast);

    private static void AssertNoToken(string text, string token = Token) => Assert.DoesNotContain(token, text);

    private List<JsonElement> ListenRequests() =>
        hub.Requests().Where(r => HubStandin.Str(r, "path")?.StartsWith("/listen/", StringComparison.Ordinal) == true).ToList();

    [SkippableFact]
    public async Task Push_NonSeekableStream_IsSentChunked_ByteForByte_AndTheHubUnpacksIt()
    {
        hub.Require();
        var dir = TestEnvironment.NewTempDir("rff-hub");
        var tgz = SmallTarGz(dir);
        using var client = Client();
        await using (var fs = File.OpenRead(tgz))
        await using (var pipe = new NonSeekable(fs))
        {
            var result = await client.PushAsync(pipe, "myimage");
            Assert.Equal("myimage.flist", result.Name);
            Assert.Equal(HubStandin.User, result.User);
            Assert.Equal(new Uri(hub.Url, "alice/myimage.flist"), result.FlistUrl);
            Assert.Equal(Convert.ToHexStringLower(MD5.HashData(File.ReadAllBytes(hub.PublishedPath("myimage.flist")))), result.Md5);
        }
        var request = hub.UploadRequestOf("myimage.tar.gz");
        Assert.Equal("chunked", HubStandin.Str(request, "transfer_encoding"));
        Assert.Equal(JsonValueKind.Null, request.GetProperty("content_length").ValueKind);
        var upload = request.GetProperty("upload");
        Assert.Equal(new FileInfo(tgz).Length, upload.GetProperty("saved_bytes").GetInt64());
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(tgz))), HubStandin.Str(upload, "sha256"));
        Assert.Equal(0, upload.GetProperty("tar_exit").GetInt32());
        Assert.Equal(HubTrees.Listing(Path.Combine(dir, "tree")), HubTrees.Listing(HubStandin.Str(upload, "workspace")!));
    }

    [SkippableFact]
    public async Task Push_SeekableStream_SendsContentLength_NotChunked()
    {
        hub.Require();
        var dir = TestEnvironment.NewTempDir("rff-hub");
        var tgz = SmallTarGz(dir);
        using var client = Client();
        await using (var fs = File.OpenRead(tgz))
            Assert.Equal("sized.flist", (await client.PushAsync(fs, "sized")).Name);
        var request = hub.UploadRequestOf("sized.tar.gz");
        Assert.Equal(JsonValueKind.Null, request.GetProperty("transfer_encoding").ValueKind);
        long contentLength = long.Parse(HubStandin.Str(request, "content_length")!);
        // The multipart body: the file plus its part headers and the boundaries (a few hundred bytes).
        Assert.InRange(contentLength - new FileInfo(tgz).Length, 100, 1000);
        Assert.Equal(new FileInfo(tgz).Length, request.GetProperty("upload").GetProperty("saved_bytes").GetInt64());
    }

    [SkippableFact]
    public async Task Push_RefusedToken_Is401_AClearError_WithoutTheToken()
    {
        hub.Require();
        var dir = TestEnvironment.NewTempDir("rff-hub");
        var tgz = SmallTarGz(dir);
        const string wrong = "wrong-TOKEN-0b5d";
        using var client = Client(wrong);
        await using var fs = File.OpenRead(tgz);
        var e = await Assert.ThrowsAsync<HubException>(() => client.PushAsync(fs, "x"));
        Assert.Equal(401, e.StatusCode);
        Assert.Contains("refused the token", e.Message);
        Assert.Contains("invalid signature", e.Message);
        AssertNoToken(e.ToString(), wrong);
        AssertNoToken(File.ReadAllText(hub.LogPath), wrong);
        Assert.Equal("bearer <redacted>", HubStandin.Str(hub.Requests().Single().GetProperty("headers"), "Authorization"));
    }

    [SkippableFact]
    public async Task Push_ReadOnlyHub_Is400_WithTheHint()
    {
        hub.Require();
        await hub.ConfigureAsync(new { @readonly = true });
        using var client = Client();
        var e = await Assert.ThrowsAsync<HubException>(() => client.PushAsync(new MemoryStream([1, 2, 3]), "x"));
        Assert.Equal(400, e.StatusCode);
        Assert.Contains("readonly mode", e.Message);
        Assert.Contains("read-only hub", e.Message);
        AssertNoToken(e.ToString());
    }

    [SkippableFact]
    public async Task Push_ConversionFailure_Is500_WithTheHubsMessage()
    {
        hub.Require();
        await hub.ConfigureAsync(new { fail_conversion = "zflist putdir: backend unreachable" });
        var dir = TestEnvironment.NewTempDir("rff-hub");
        using var client = Client();
        await using var fs = File.OpenRead(SmallTarGz(dir));
        var e = await Assert.ThrowsAsync<HubException>(() => client.PushAsync(fs, "x"));
        Assert.Equal(500, e.StatusCode);
        Assert.Contains("zflist putdir: backend unreachable", e.Message);
        Assert.False(File.Exists(hub.PublishedPath("x.flist")));
    }

    [SkippableFact]
    public async Task Push_NotAGzipTarball_TheHubCannotUnpackIt_ClearError()
    {
        hub.Require();
        using var client = Client();
        var e = await Assert.ThrowsAsync<HubException>(() => client.PushAsync(new MemoryStream("not a tarball"u8.ToArray()), "junk"));
        Assert.Equal(500, e.StatusCode);
        Assert.Contains("could not unpack the archive", e.Message);
        Assert.Contains("not in gzip format", e.Message);
    }

    [SkippableFact]
    public async Task Async_Success_FollowsTheJob_ReportsProgress_AndWaitsForTheFlist()
    {
        hub.Require();
        await hub.ConfigureAsync(new { async_api = true, job_seconds = 1.0 });
        var dir = TestEnvironment.NewTempDir("rff-hub");
        var reports = new List<HubProgress>();
        using var client = Client();
        await using var fs = File.OpenRead(SmallTarGz(dir));
        var result = await client.PushAsync(fs, "job", new SyncProgress(reports));
        Assert.Equal("job.flist", result.Name);
        Assert.NotNull(result.JobId);
        Assert.Contains("\"info\"", result.Response);
        Assert.Contains(reports, r => r.Message.StartsWith("Building: processing item", StringComparison.Ordinal) && r.Percent is > 0);
        Assert.Contains(reports, r => r.Message == "Image ready !" && r.Percent == 100);
        Assert.Equal("/listen/" + result.JobId, HubStandin.Str(ListenRequests().Single(), "path"));
        Assert.True(File.Exists(hub.PublishedPath("job.flist")));
        Assert.Equal(0, hub.UploadOf("job.tar.gz").GetProperty("tar_exit").GetInt32());
    }

    [SkippableFact]
    public async Task Async_ErrorEvent_FailsWithTheHubsMessage()
    {
        hub.Require();
        await hub.ConfigureAsync(new { async_api = true, fail_conversion = "zflist commit: disk full" });
        var dir = TestEnvironment.NewTempDir("rff-hub");
        using var client = Client();
        await using var fs = File.OpenRead(SmallTarGz(dir));
        var e = await Assert.ThrowsAsync<HubException>(() => client.PushAsync(fs, "broken"));
        Assert.Contains("the hub failed to convert broken.tar.gz", e.Message);
        Assert.Contains("zflist commit: disk full", e.Message);
        AssertNoToken(e.ToString());
    }

    /// <summary>
    /// A progress stream that ends ("close") or is cut ("reset") before the job's result is reopened: the hub keeps the
    /// job's events queued, so the second connection reads the rest.
    /// </summary>
    [SkippableTheory]
    [InlineData("close")]
    [InlineData("reset")]
    public async Task Async_StreamDropsOnce_TheClientReconnects_AndSucceeds(string mode)
    {
        hub.Require();
        await hub.ConfigureAsync(new { async_api = true, job_seconds = 1.0, sse_drop_after = 1, sse_drop_mode = mode });
        var dir = TestEnvironment.NewTempDir("rff-hub");
        using var client = Client();
        await using var fs = File.OpenRead(SmallTarGz(dir));
        var result = await client.PushAsync(fs, "dropped-" + mode);
        Assert.Equal($"dropped-{mode}.flist", result.Name);
        Assert.Equal(2, ListenRequests().Count);
        Assert.Contains(hub.Requests(), r => HubStandin.Str(r, "kind") == "listen-end" && HubStandin.Str(r, "reason") == "dropped");
        Assert.Contains(hub.Requests(), r => HubStandin.Str(r, "kind") == "listen-end" && HubStandin.Str(r, "reason") == "finished");
    }

    [SkippableFact]
    public async Task Async_StreamDropsEveryTime_FailsClearly_AfterTheReconnects()
    {
        hub.Require();
        await hub.ConfigureAsync(new { async_api = true, sse_drop_after = 0, sse_drops = -1 });
        var dir = TestEnvironment.NewTempDir("rff-hub");
        using var client = Client();
        await using var fs = File.OpenRead(SmallTarGz(dir));
        var e = await Assert.ThrowsAsync<HubException>(() => client.PushAsync(fs, "flaky"));
        Assert.Contains("lost the hub's progress stream for job", e.Message);
        Assert.Contains("4 times", e.Message);
        Assert.Contains("the stream ended before the job's result", e.Message);
        Assert.Equal(Fast.MaxStreamReconnects + 1, ListenRequests().Count);
    }

    /// <summary>
    /// The hub forgets a job once a listener read its end; when that listener's connection broke, a reconnect gets 404.
    /// Then whether the flist appears decides: here it does (the job was still running), so the push succeeds.
    /// </summary>
    [SkippableFact]
    public async Task Async_JobForgottenAfterADrop_TheFlistAppearing_IsSuccess()
    {
        hub.Require();
        await hub.ConfigureAsync(new { async_api = true, job_seconds = 1.5, sse_drop_after = 1, forget_dropped_jobs = true });
        var dir = TestEnvironment.NewTempDir("rff-hub");
        using var client = Client();
        await using var fs = File.OpenRead(SmallTarGz(dir));
        var result = await client.PushAsync(fs, "forgotten");
        Assert.Equal("forgotten.flist", result.Name);
        var listens = ListenRequests();
        Assert.Equal(2, listens.Count);
        Assert.Equal(404, listens[1].GetProperty("status").GetInt32());
        Assert.NotNull(result.Md5);
    }

    [SkippableFact]
    public async Task Async_JobForgottenAfterADrop_AndTheConversionFailed_IsAClearError()
    {
        hub.Require();
        await hub.ConfigureAsync(new
        {
            async_api = true, job_seconds = 0.5, sse_drop_after = 1, forget_dropped_jobs = true, fail_conversion = "boom",
        });
        var dir = TestEnvironment.NewTempDir("rff-hub");
        using var client = Client(options: Fast with { PublishTimeout = TimeSpan.FromSeconds(2) });
        await using var fs = File.OpenRead(SmallTarGz(dir));
        var e = await Assert.ThrowsAsync<HubException>(() => client.PushAsync(fs, "lost"));
        Assert.Contains("ended without the job's result", e.Message);
        Assert.Contains("alice/lost.flist.md5", e.Message);
        Assert.Contains("the conversion may have failed", e.Message);
    }

    [SkippableFact]
    public async Task Push_WaitsUntilTheFlistCanBeDownloaded()
    {
        hub.Require();
        await hub.ConfigureAsync(new { publish_delay = 2.0 });
        var dir = TestEnvironment.NewTempDir("rff-hub");
        using var client = Client();
        await using var fs = File.OpenRead(SmallTarGz(dir));
        var clock = Stopwatch.StartNew();
        var result = await client.PushAsync(fs, "late");
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(1.8), $"returned after {clock.Elapsed}, before the flist existed");
        var polls = hub.Requests().Where(r => HubStandin.Str(r, "path") == "/alice/late.flist.md5").ToList();
        Assert.True(polls.Count >= 2);
        Assert.All(polls[..^1], p => Assert.Equal(404, p.GetProperty("status").GetInt32()));
        Assert.Equal(200, polls[^1].GetProperty("status").GetInt32());
        Assert.Equal(Convert.ToHexStringLower(MD5.HashData(File.ReadAllBytes(hub.PublishedPath("late.flist")))), result.Md5);
    }

    [SkippableFact]
    public async Task Push_FlistNeverAppears_FailsAfterThePublishTimeout()
    {
        hub.Require();
        await hub.ConfigureAsync(new { publish_delay = 120.0 });
        var dir = TestEnvironment.NewTempDir("rff-hub");
        using var client = Client(options: Fast with { PublishTimeout = TimeSpan.FromSeconds(2) });
        await using var fs = File.OpenRead(SmallTarGz(dir));
        var clock = Stopwatch.StartNew();
        var e = await Assert.ThrowsAsync<HubException>(() => client.PushAsync(fs, "never"));
        Assert.InRange(clock.Elapsed, TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(30));
        Assert.Contains("the hub reported never.flist as made", e.Message);
        Assert.Contains("did not answer within 2 s", e.Message);
        Assert.Contains("HTTP 404", e.Message);
    }

    [Fact]
    public async Task Push_ConnectionRefused_RetriedThenClearError()
    {
        int port = FlistTestSupport.FreePort();
        using var client = new HubClient(new Uri($"http://127.0.0.1:{port}/"), Token);
        var e = await Assert.ThrowsAsync<HubException>(() => client.PushAsync(new MemoryStream([1, 2, 3]), "x"));
        Assert.Contains($"127.0.0.1:{port}", e.Message);
        AssertNoToken(e.ToString());
    }

    [Fact]
    public void Token_FromEnvironmentOrFile()
    {
        var dir = TestEnvironment.NewTempDir("rff-hub");
        var file = Path.Combine(dir, "token");
        File.WriteAllText(file, "  filetoken \n");
        Assert.Equal("filetoken", HubClient.ResolveToken(file));
        Assert.Throws<FileNotFoundException>(() => HubClient.ResolveToken(Path.Combine(dir, "none")));
    }

    /// <summary>Collects reports on the reporting thread (Progress&lt;T&gt; would post them later).</summary>
    private sealed class SyncProgress(List<HubProgress> into) : IProgress<HubProgress>
    {
        public void Report(HubProgress value)
        {
            lock (into) into.Add(value);
        }
    }

    private sealed class NonSeekable(Stream inner) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
