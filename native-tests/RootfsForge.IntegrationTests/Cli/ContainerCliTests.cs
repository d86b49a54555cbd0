using System.Diagnostics;
using System.Text;
using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Oci;

/// <summary>
/// The command-line contract of <c>rootfsforge container</c> on bad input and unfriendly registries (a real
/// docker-registry, damaged in its storage or behind a <see cref="FaultProxy"/>): one message, the documented exit code
/// — 3 for input that is corrupt, mismatching or unsupported; 1 for a registry that refuses (401, 404, retries used up)
/// or cannot be reached; 2 for a usage mistake; 130 when interrupted — no output left behind, nothing written beside it
/// (the work folder holds only the blob cache afterwards) and nothing left in TMPDIR.
/// </summary>
[Collection(OciImagesCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class ContainerCliTests(OciImagesFixture images)
{
    private static (int Code, string StdOut, string StdErr) Run(string work, string reference, string output, string insecureHost,
        params string[] extra) =>
        ContainerFlistTests.Cli(work, ["container", reference, "-o", output, "--insecure-registry", insecureHost,
            .. extra.Contains("--cache") ? [] : new[] { "--cache", Path.Combine(work, "cache") }, .. extra]);

    /// <summary>The failure contract: exit code, one message holding <paramref name="message"/>, no output, nothing beside it.</summary>
    private static void AssertFailedCleanly((int Code, string StdOut, string StdErr) r, int code, string work, string output, params string[] message)
    {
        Assert.True(r.Code == code, $"exit {r.Code}, expected {code}\n{r.StdErr}");
        foreach (var m in message) Assert.True(r.StdErr.Contains(m, StringComparison.Ordinal), $"'{m}' not in: {r.StdErr}");
        Assert.DoesNotContain("   at ", r.StdErr); // no stack trace
        Assert.DoesNotContain("Unhandled", r.StdErr);
        Assert.Single(r.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("rootfsforge: ", StringComparison.Ordinal) && !l.Contains("warning"));
        Assert.False(Path.Exists(output), $"{output} was left behind");
        var left = Directory.GetFileSystemEntries(work).Select(Path.GetFileName).Where(n => n != "cache").ToArray();
        Assert.True(left.Length == 0, "left beside the output: " + string.Join(", ", left));
    }

    private static string Hex(string digest) => digest["sha256:".Length..];

    [SkippableTheory]
    [InlineData("rootfs")]
    [InlineData("x.tar.gz")]
    [InlineData("x.fl")]
    public void TamperedBlobInTheRegistry_Exit3_NothingKept(string name)
    {
        images.Require();
        string repoTag = images.PushUnique("tampered-" + name.Replace('.', '-'));
        string layer = images.RawManifest(repoTag).GetProperty("layers")[1].GetProperty("digest").GetString()!;
        string path = images.RegistryBlobPath(layer);
        var bytes = File.ReadAllBytes(path);
        bytes[bytes.Length / 2] ^= 0x01;
        File.WriteAllBytes(path, bytes);

        string work = images.NewDir("tampered");
        string output = Path.Combine(work, name);
        string[] store = name.EndsWith(".fl", StringComparison.Ordinal) ? ["--store", $"dir://{work}/store"] : [];
        var r = Run(work, images.Ref(repoTag), output, images.Host, [.. store, "-q"]);
        AssertFailedCleanly(r, 3, work, output, layer, "does not match its digest");
        // The bad blob is kept neither as a blob nor as a partial file (the base layer's download, stopped with it, may
        // leave its partial file to be resumed).
        Assert.False(File.Exists(Path.Combine(work, "cache", "sha256", Hex(layer))));
        Assert.False(File.Exists(Path.Combine(work, "cache", "partial", "sha256-" + Hex(layer))));
    }

    [SkippableFact]
    public void TruncatedBlobInTheRegistry_Exit3()
    {
        images.Require();
        string repoTag = images.PushUnique("truncated");
        string layer = images.RawManifest(repoTag).GetProperty("layers")[1].GetProperty("digest").GetString()!;
        string path = images.RegistryBlobPath(layer);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^100]);
        string work = images.NewDir("truncated");
        string output = Path.Combine(work, "x.tar");
        var r = Run(work, images.Ref(repoTag), output, images.Host, "-q");
        AssertFailedCleanly(r, 3, work, output, layer, "truncated");
        Assert.False(File.Exists(Path.Combine(work, "cache", "partial", "sha256-" + Hex(layer))));
    }

    [SkippableFact]
    public void UnknownManifestMediaType_Exit3()
    {
        images.Require();
        using var proxy = new FaultProxy(images.RegistryOrigin);
        const string type = "application/vnd.example.thing.v1+json";
        proxy.Rule = async (x, p) =>
        {
            if (!x.Path.Contains("/manifests/")) return false;
            p.Record(x, 200);
            await x.RespondAsync(200, Encoding.UTF8.GetBytes($"{{\"schemaVersion\":2,\"mediaType\":\"{type}\",\"config\":{{}},\"layers\":[]}}"),
                [KeyValuePair.Create("Content-Type", type)]);
            return true;
        };
        string work = images.NewDir("mediatype");
        string output = Path.Combine(work, "rootfs");
        var r = Run(work, $"docker://{proxy.Host}/test/layered:gzip", output, proxy.Host, "-q");
        AssertFailedCleanly(r, 3, work, output, type, "not supported");
    }

    /// <summary>A registry asking for credentials: refused without them (exit 1, not "bad input"), fine with a creds file.</summary>
    [SkippableFact]
    public void Unauthorized401_Exit1_ThenCredentialsFileWorks()
    {
        images.Require();
        using var registry = RegistryServer.StartHtpasswd(images.Storage, "alice", "s3cret-pass");
        string work = images.NewDir("auth");
        string output = Path.Combine(work, "rootfs");
        var r = Run(work, $"docker://{registry.Host}/test/layered:gzip", output, registry.Host, "-q");
        AssertFailedCleanly(r, 1, work, output, registry.Host, "requires authentication");

        string creds = Path.Combine(images.NewDir("creds"), "auth.json");
        File.WriteAllText(creds, AuthFile(registry.Host, "alice:s3cret-pass"));
        r = Run(work, $"docker://{registry.Host}/test/layered:gzip", output, registry.Host, "--creds-file", creds, "-q");
        Assert.True(r.Code == 0, r.StdErr);
        Assert.DoesNotContain("s3cret-pass", r.StdErr);
        Assert.True(File.Exists(Path.Combine(output, "etc", "shared-too")));
        Directory.Delete(output, recursive: true);

        // Wrong credentials: refused, and the password is not printed.
        File.WriteAllText(creds, AuthFile(registry.Host, "alice:wrong-pass"));
        string second = Path.Combine(work, "second");
        r = Run(work, $"docker://{registry.Host}/test/layered:gzip", second, registry.Host, "--creds-file", creds, "-q");
        AssertFailedCleanly(r, 1, work, second, registry.Host);
        Assert.DoesNotContain("wrong-pass", r.StdErr);
        Assert.DoesNotContain(Convert.ToBase64String(Encoding.UTF8.GetBytes("alice:wrong-pass")), r.StdErr);
    }

    /// <summary>A containers-auth.json with one <c>auths</c> entry.</summary>
    private static string AuthFile(string host, string userPassword) => System.Text.Json.JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["auths"] = new Dictionary<string, object> { [host] = new Dictionary<string, string> { ["auth"] = Convert.ToBase64String(Encoding.UTF8.GetBytes(userPassword)) } },
    });

    [SkippableFact]
    public void NotFound404_Exit1()
    {
        images.Require();
        string work = images.NewDir("404");
        string output = Path.Combine(work, "rootfs");
        var r = Run(work, $"docker://{images.Host}/test/layered:no-such-tag", output, images.Host, "-q");
        AssertFailedCleanly(r, 1, work, output, "MANIFEST_UNKNOWN");

        // A blob the manifest names but the registry does not have.
        using var proxy = new FaultProxy(images.RegistryOrigin);
        proxy.Rule = async (x, p) =>
        {
            if (!x.Path.Contains("/blobs/sha256:") || x.Method != "GET") return false;
            p.Record(x, 404);
            await x.RespondAsync(404, Encoding.UTF8.GetBytes("{\"errors\":[{\"code\":\"BLOB_UNKNOWN\",\"message\":\"blob unknown to registry\"}]}"),
                [KeyValuePair.Create("Content-Type", "application/json")]);
            return true;
        };
        r = Run(work, $"docker://{proxy.Host}/test/layered:gzip", output, proxy.Host, "-q");
        AssertFailedCleanly(r, 1, work, output, "BLOB_UNKNOWN");
    }

    private static Func<HttpExchange, FaultProxy, Task<bool>> Fail(Func<HttpExchange, bool> match, int times, int status)
    {
        int seen = 0;
        return async (x, p) =>
        {
            if (!match(x) || Interlocked.Increment(ref seen) > times) return false;
            p.Record(x, status);
            await x.RespondAsync(status, Encoding.UTF8.GetBytes("{\"errors\":[{\"code\":\"TOOMANYREQUESTS\",\"message\":\"busy\"}]}"),
                [KeyValuePair.Create("Retry-After", "0")]);
            return true;
        };
    }

    [SkippableTheory]
    [InlineData(429)]
    [InlineData(500)]
    [InlineData(503)]
    public void TransientErrors_RetriedThenSucceed_OrExit1WhenTheyPersist(int status)
    {
        images.Require();
        var oracle = RootfsDump.Of(images.Oracle("test/layered:gzip"));
        using var proxy = new FaultProxy(images.RegistryOrigin);
        string work = images.NewDir($"e{status}");
        proxy.Rule = Fail(x => x.Path.Contains("/blobs/sha256:") || x.Path.Contains("/manifests/"), 2, status);
        string output = Path.Combine(work, "x.tar");
        var r = Run(work, $"docker://{proxy.Host}/test/layered:gzip", output, proxy.Host, "-q", "--no-startup");
        Assert.True(r.Code == 0, r.StdErr);
        Assert.Equal([status, status, 200], proxy.Log.Where(e => e.Target.Contains("/manifests/")).Take(3).Select(e => e.Status));
        RootfsDump.AssertSame(oracle, RootfsDump.Of(output), "after retries");
        File.Delete(output);

        using var always = new FaultProxy(images.RegistryOrigin);
        always.Rule = Fail(x => x.Path.Contains("/blobs/sha256:"), int.MaxValue, status);
        r = Run(work, $"docker://{always.Host}/test/layered:gzip", output, always.Host, "-q", "--cache", Path.Combine(images.NewDir("cold"), "blobs"));
        AssertFailedCleanly(r, 1, work, output, status.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.InRange(always.BlobGets.Count, 5, 5 * 8); // bounded: 5 tries per blob (counted, not timed)
    }

    [SkippableFact]
    public void ConnectionCutMidBlob_Resumed_OutputEqualsTheOracle()
    {
        images.Require();
        var oracle = RootfsDump.Of(images.Oracle("test/layered:gzip"));
        using var proxy = new FaultProxy(images.RegistryOrigin);
        string busybox = images.RawManifest("test/layered:gzip").GetProperty("layers")[0].GetProperty("digest").GetString()!;
        int cuts = 0;
        proxy.Rule = async (x, p) =>
        {
            if (!x.Path.EndsWith(busybox, StringComparison.Ordinal) || x.Method != "GET" || Interlocked.Increment(ref cuts) > 2) return false;
            await p.ForwardAsync(x, cutAfter: 300_000);
            return true;
        };
        string work = images.NewDir("cut");
        string output = Path.Combine(work, "x.tar.gz");
        var r = Run(work, $"docker://{proxy.Host}/test/layered:gzip", output, proxy.Host, "-q", "--no-startup");
        Assert.True(r.Code == 0, r.StdErr);
        var requests = proxy.Log.Where(e => e.Target.EndsWith(busybox, StringComparison.Ordinal) && e.Method == "GET").ToArray();
        Assert.Equal(3, requests.Length);
        Assert.Null(requests[0].Range);
        Assert.Equal("bytes=300000-", requests[1].Range);
        Assert.Equal("bytes=600000-", requests[2].Range);
        RootfsDump.AssertSame(oracle, RootfsDump.Of(output), "after resumed downloads");
    }

    [SkippableFact]
    public void UnreachableRegistry_Exit1()
    {
        images.Require();
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop(); // nothing listens there now
        string work = images.NewDir("unreachable");
        string output = Path.Combine(work, "rootfs");
        var r = Run(work, $"docker://127.0.0.1:{port}/test/layered:gzip", output, $"127.0.0.1:{port}", "-q");
        AssertFailedCleanly(r, 1, work, output, "cannot reach", $"127.0.0.1:{port}");
    }

    [SkippableTheory]
    [InlineData("gzip")]
    [InlineData("zstd")]
    public void DecompressionBombLayer_Exit3_StoppedAtTheLimit(string compression)
    {
        images.Require();
        string layout = images.NewDir("bomb");
        var w = new OciLayoutWriter(layout);
        w.AddLayer(OciLayoutWriter.FilesTar(("etc/ok", "fine")), "gzip");
        w.AddLayer(OciLayoutWriter.ZeroFileTar("zeros", 400L << 20), compression); // ~0.4 MiB gzip, far less zstd
        w.Finish("bomb");
        string work = images.NewDir("bomb-run");
        string output = Path.Combine(work, "x.tar");
        var r = ContainerFlistTests.Cli(work, "container", $"oci:{layout}:bomb", "-o", output, "-q");
        AssertFailedCleanly(r, 3, work, output, "MaxLayerExpansion", "268435456");
    }

    [SkippableFact]
    public void UsageMistakes_Exit2_BeforeAnyWork()
    {
        images.Require();
        string work = images.NewDir("usage");
        string output = Path.Combine(work, "rootfs");
        using var proxy = new FaultProxy(images.RegistryOrigin);
        string reference = $"docker://{proxy.Host}/test/layered:gzip";
        AssertFailedCleanly(Run(work, "docker://UPPER/x:tag:more", output, proxy.Host), 2, work, output, "UPPER");
        AssertFailedCleanly(Run(work, reference, output, proxy.Host, "--platform", "linux"), 2, work, output, "--platform");
        AssertFailedCleanly(Run(work, reference, Path.Combine(work, "x.fl"), proxy.Host), 2, work, Path.Combine(work, "x.fl"), "--store");
        AssertFailedCleanly(Run(work, reference, output, proxy.Host, "--store", $"dir://{work}/s"), 2, work, output, "--store");
        AssertFailedCleanly(Run(work, reference, output, proxy.Host, "--tag", "a=b"), 2, work, output, "--tag");
        AssertFailedCleanly(Run(work, reference, Path.Combine(work, "x.fl"), proxy.Host, "--store", $"dir://{work}/s", "--tag", "novalue"), 2, work,
            Path.Combine(work, "x.fl"), "KEY=VALUE");
        AssertFailedCleanly(Run(work, reference, output, proxy.Host, "--creds-file", Path.Combine(work, "none.json")), 2, work, output, "none.json");
        AssertFailedCleanly(Run(work, $"oci:{work}/no-layout", output, proxy.Host), 2, work, output, "no-layout");
        Directory.CreateDirectory(output);
        File.WriteAllText(Path.Combine(output, "keep"), "mine");
        var r = Run(work, reference, output, proxy.Host, "-q");
        Assert.Equal(2, r.Code);
        Assert.Equal("mine", File.ReadAllText(Path.Combine(output, "keep")));
        Assert.Empty(proxy.Log); // refused before the registry was asked anything
    }

    /// <summary>SIGTERM while a layer downloads: exit 130, no output; the partial blob stays in the cache to be resumed.</summary>
    [SkippableFact]
    public async Task Interrupted_Exit130_NoOutput()
    {
        images.Require();
        using var proxy = new FaultProxy(images.RegistryOrigin);
        var stalled = new TaskCompletionSource();
        using var stop = new CancellationTokenSource();
        // Blobs: the head and the first 100,000 bytes, then nothing until the test ends.
        proxy.Rule = async (x, p) =>
        {
            if (!x.Path.Contains("/blobs/sha256:") || x.Method != "GET") return false;
            var body = File.ReadAllBytes(images.RegistryBlobPath(x.Path[(x.Path.LastIndexOf('/') + 1)..]));
            p.Record(x, 200);
            await x.WriteHeadAsync(200, body.Length);
            await x.Connection.WriteAsync(body.AsMemory(0, Math.Min(body.Length, 100_000)));
            await x.Connection.FlushAsync();
            if (body.Length <= 100_000) return true;
            stalled.TrySetResult();
            await Task.Delay(Timeout.Infinite, stop.Token).ContinueWith(_ => { });
            return true;
        };
        string work = images.NewDir("sigterm");
        string output = Path.Combine(work, "x.tar");
        string tmp = Path.Combine(work, ".tmp");
        Directory.CreateDirectory(tmp);
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, WorkingDirectory = work };
        foreach (var a in new[] { TestEnvironment.CliDll, "container", $"docker://{proxy.Host}/test/layered:gzip", "-o", output,
                     "--insecure-registry", proxy.Host, "--cache", Path.Combine(work, "cache"), "-q" })
            psi.ArgumentList.Add(a);
        psi.Environment["TMPDIR"] = tmp;
        using var process = Process.Start(psi)!;
        var stderr = process.StandardError.ReadToEndAsync();
        await stalled.Task.WaitAsync(TimeSpan.FromMinutes(2));
        TestEnvironment.RunChecked("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(1));
        Assert.Empty(Directory.GetFileSystemEntries(tmp));
        Directory.Delete(tmp);
        AssertFailedCleanly((process.ExitCode, "", await stderr), 130, work, output, "interrupted");
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(work, "cache", "partial")));
        stop.Cancel();
    }
}
