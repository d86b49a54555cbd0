using System.Net;
using System.Text;
using RootfsForge.Hub;
using RootfsForge.Sinks.Hub;
using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Flist;

/// <summary>An HTTP server enforcing the 0-hub upload contract (flist-format.md §9) and recording what it received.</summary>
internal sealed class FakeHub : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Task _loop;
    private readonly string _token;

    public FakeHub(string token, Func<FakeHub, (int Status, string Body)?>? overrideAnswer = null)
    {
        _token = token;
        Port = FlistTestSupport.FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _loop = Task.Run(async () =>
        {
            while (_listener.IsListening)
            {
                HttpListenerContext ctx;
                try
                {
                    ctx = await _listener.GetContextAsync();
                }
                catch (Exception) when (!_listener.IsListening)
                {
                    return;
                }
                catch (HttpListenerException)
                {
                    return;
                }
                var (status, body) = overrideAnswer?.Invoke(this) ?? Handle(ctx.Request);
                var bytes = Encoding.UTF8.GetBytes(body);
                ctx.Response.StatusCode = status;
                ctx.Response.ContentType = "application/json";
                await ctx.Response.OutputStream.WriteAsync(bytes);
                ctx.Response.Close();
            }
        });
    }

    public int Port { get; }
    public Uri Url => new($"http://127.0.0.1:{Port}/");
    public byte[]? ReceivedFile { get; private set; }
    public string? ReceivedFileName { get; private set; }
    public bool ReceivedChunked { get; private set; }
    public int Requests;

    private (int, string) Handle(HttpListenerRequest request)
    {
        Interlocked.Increment(ref Requests);
        using var ms = new MemoryStream();
        request.InputStream.CopyTo(ms); // the hub's web framework reads the whole request before answering
        string? auth = request.Headers["Authorization"];
        if (auth is null) return (401, "{\"message\":\"no authorization provided\",\"status\":\"error\"}");
        var parts = auth.Split(' ', 2);
        if (!parts[0].Equals("bearer", StringComparison.OrdinalIgnoreCase) || parts[1] != _token)
            return (401, "{\"message\":\"invalid token\",\"status\":\"error\"}");
        if (request.HttpMethod != "POST" || request.Url!.AbsolutePath != "/api/flist/me/upload")
            return (404, "{\"message\":\"route not found\",\"status\":\"error\"}");
        ReceivedChunked = request.Headers["Transfer-Encoding"]?.Contains("chunked") == true;
        string? ct = request.ContentType;
        if (ct is null || !ct.StartsWith("multipart/form-data", StringComparison.Ordinal))
            return (400, "{\"message\":\"expected multipart\",\"status\":\"error\"}");
        string boundary = ct.Split("boundary=")[1].Trim('"');
        foreach (var (headers, content) in Multipart(ms.ToArray(), boundary))
        {
            if (!headers.Contains("name=file") && !headers.Contains("name=\"file\"")) continue;
            var m = System.Text.RegularExpressions.Regex.Match(headers, "filename=\"?([^\";\r\n]+)\"?");
            if (!m.Success || !m.Groups[1].Value.EndsWith(".tar.gz", StringComparison.Ordinal))
                return (500, "{\"message\":\"this is not a tar.gz file\",\"status\":\"error\"}");
            ReceivedFileName = m.Groups[1].Value;
            ReceivedFile = content;
            string flist = ReceivedFileName[..^".tar.gz".Length] + ".flist";
            return (200, $"{{\"status\":\"success\",\"payload\":{{\"name\":\"{flist}\",\"files\":{{}}}}}}");
        }
        return (500, "{\"message\":\"file not found\",\"status\":\"error\"}");
    }

    private static IEnumerable<(string Headers, byte[] Content)> Multipart(byte[] body, string boundary)
    {
        var delimiter = Encoding.ASCII.GetBytes("--" + boundary);
        int pos = body.AsSpan().IndexOf(delimiter);
        while (pos >= 0)
        {
            int partStart = pos + delimiter.Length;
            if (partStart + 2 <= body.Length && body[partStart] == '-' && body[partStart + 1] == '-') yield break;
            partStart += 2; // CRLF
            int headerEnd = body.AsSpan(partStart).IndexOf("\r\n\r\n"u8);
            if (headerEnd < 0) yield break;
            string headers = Encoding.UTF8.GetString(body, partStart, headerEnd);
            int contentStart = partStart + headerEnd + 4;
            int next = body.AsSpan(contentStart).IndexOf(delimiter);
            if (next < 0) yield break;
            yield return (headers, body[contentStart..(contentStart + next - 2)]);
            pos = contentStart + next;
        }
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        try
        {
            _loop.Wait(5000);
        }
        catch (AggregateException)
        {
        }
    }
}

public class HubPushTests
{
    private const string Token = "tok3n-ABC.not-a-real-secret-42";

    private static string MakeTarGz(string dir)
    {
        TestEnvironment.RequireTool("tar");
        var root = Path.Combine(dir, "tree");
        Directory.CreateDirectory(Path.Combine(root, "etc"));
        File.WriteAllText(Path.Combine(root, "etc", "hostname"), "forge\n");
        File.WriteAllBytes(Path.Combine(root, "big.bin"), TreeFixtures.Random(3_000_000, 5));
        File.CreateSymbolicLink(Path.Combine(root, "link"), "etc/hostname");
        var tgz = Path.Combine(dir, "rootfs.tar.gz");
        TestEnvironment.RunChecked("tar", ["-czf", tgz, "-C", root, "."]);
        return tgz;
    }

    [SkippableFact]
    public async Task Push_StreamsTarGz_HubReceivesIt_AndItUnpacks()
    {
        var dir = TestEnvironment.NewTempDir("rff-hub");
        var tgz = MakeTarGz(dir);
        using var hub = new FakeHub(Token);
        using var client = new HubClient(hub.Url, Token);
        // A non-seekable stream: the upload must stream it (chunked), not need its length.
        await using (var fs = File.OpenRead(tgz))
        await using (var pipe = new NonSeekable(fs))
        {
            var result = await client.PushAsync(pipe, "myimage");
            Assert.Equal("myimage.flist", result.Name);
        }
        Assert.Equal("myimage.tar.gz", hub.ReceivedFileName);
        Assert.Equal(File.ReadAllBytes(tgz), hub.ReceivedFile);
        Assert.True(hub.ReceivedChunked);

        var received = Path.Combine(dir, "received.tar.gz");
        File.WriteAllBytes(received, hub.ReceivedFile!);
        var outDir = Path.Combine(dir, "out");
        Directory.CreateDirectory(outDir);
        TestEnvironment.RunChecked("tar", ["-xzf", received, "-C", outDir]);
        Assert.Equal("forge\n", File.ReadAllText(Path.Combine(outDir, "etc", "hostname")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(dir, "tree", "big.bin")), File.ReadAllBytes(Path.Combine(outDir, "big.bin")));
        Assert.Equal("etc/hostname", new FileInfo(Path.Combine(outDir, "link")).LinkTarget);
    }

    [SkippableFact]
    public async Task Push_WrongToken_Is401ClearError_WithoutToken()
    {
        var dir = TestEnvironment.NewTempDir("rff-hub");
        var tgz = MakeTarGz(dir);
        using var hub = new FakeHub("the-right-one");
        using var client = new HubClient(hub.Url, Token);
        await using var fs = File.OpenRead(tgz);
        var e = await Assert.ThrowsAsync<HubException>(() => client.PushAsync(fs, "x"));
        Assert.Equal(401, e.StatusCode);
        Assert.Contains("refused the token", e.Message);
        Assert.Contains("invalid token", e.Message);
        Assert.DoesNotContain(Token, e.ToString());
    }

    [Fact]
    public async Task Push_HubErrorJson_AndServerError_AreClear()
    {
        using var hub = new FakeHub(Token, _ => (200, "{\"status\":\"error\",\"message\":\"zflist commit failed\"}"));
        using var client = new HubClient(hub.Url, Token);
        var e = await Assert.ThrowsAsync<HubException>(() => client.PushAsync(new MemoryStream([1, 2, 3]), "x"));
        Assert.Contains("zflist commit failed", e.Message);

        using var hub500 = new FakeHub(Token, _ => (500, $"{{\"status\":\"error\",\"message\":\"boom {Token}\"}}"));
        using var client500 = new HubClient(hub500.Url, Token);
        var e500 = await Assert.ThrowsAsync<HubException>(() => client500.PushAsync(new MemoryStream([1, 2, 3]), "x"));
        Assert.Equal(500, e500.StatusCode);
        Assert.Contains("boom", e500.Message);
        Assert.DoesNotContain(Token, e500.Message);

        using var hub400 = new FakeHub(Token, _ => (400, "{\"status\":\"error\",\"message\":\"hub is read-only\"}"));
        using var client400 = new HubClient(hub400.Url, Token);
        var e400 = await Assert.ThrowsAsync<HubException>(() => client400.PushAsync(new MemoryStream([1, 2, 3]), "x"));
        Assert.Contains("read-only", e400.Message);
    }

    [Fact]
    public async Task Push_ConnectionRefused_RetriedThenClearError()
    {
        int port = FlistTestSupport.FreePort();
        using var client = new HubClient(new Uri($"http://127.0.0.1:{port}/"), Token);
        var e = await Assert.ThrowsAsync<HubException>(() => client.PushAsync(new MemoryStream([1, 2, 3]), "x"));
        Assert.Contains($"127.0.0.1:{port}", e.Message);
        Assert.DoesNotContain(Token, e.ToString());
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

    [SkippableFact]
    public async Task HubSink_StreamsTreeAsTarGz_ThatUnpacksToTheTree()
    {
        TestEnvironment.RequireTool("tar");
        var dir = TestEnvironment.NewTempDir("rff-hub");
        var src = Path.Combine(dir, "src");
        Directory.CreateDirectory(Path.Combine(src, "etc"));
        File.WriteAllBytes(Path.Combine(src, "etc", "blob"), TreeFixtures.Random(2_000_000, 8));
        File.WriteAllText(Path.Combine(src, "etc", "motd"), "welcome\n");
        File.CreateSymbolicLink(Path.Combine(src, "motd"), "etc/motd");
        using var hub = new FakeHub(Token);
        using var client = new HubClient(hub.Url, Token);
        var sink = new RootfsForge.Sinks.Hub.HubSink(client, "streamed");
        await using (sink)
        {
            foreach (var e in new RootfsForge.Sources.Directories.DirectorySource(src).Walk()) sink.Add(e);
            sink.Complete();
        }
        Assert.Equal("streamed.flist", sink.Result!.Name);
        Assert.Equal("streamed.tar.gz", hub.ReceivedFileName);
        var received = Path.Combine(dir, "received.tar.gz");
        File.WriteAllBytes(received, hub.ReceivedFile!);
        var outDir = Path.Combine(dir, "out");
        Directory.CreateDirectory(outDir);
        TestEnvironment.RunChecked("tar", ["-xzf", received, "-C", outDir]);
        Assert.Equal(TreeFixtures.Canonical(new RootfsForge.Sources.Directories.DirectorySource(src).Walk()).Skip(1),
            TreeFixtures.Canonical(new RootfsForge.Sources.Directories.DirectorySource(outDir).Walk()).Skip(1));
    }

    [Fact]
    public async Task HubSink_RefusedToken_FailsClearly()
    {
        using var hub = new FakeHub("another");
        using var client = new HubClient(hub.Url, Token);
        var e = await Assert.ThrowsAnyAsync<IOException>(async () =>
        {
            await using var sink = new RootfsForge.Sinks.Hub.HubSink(client, "x");
            foreach (var entry in TreeFixtures.InWalkOrder([TreeFixtures.Dir(""), TreeFixtures.File("a", [1, 2, 3])]))
                sink.Add(entry);
            sink.Complete();
        });
        Assert.Contains("401", e.Message);
        Assert.DoesNotContain(Token, e.ToString());
    }
}
