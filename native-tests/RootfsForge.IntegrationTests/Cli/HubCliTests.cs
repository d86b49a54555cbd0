using System.Security.Cryptography;
using System.Text.Json;
using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Hub;

/// <summary><c>rootfsforge push</c> and <c>extract -o hub:NAME</c> through the built CLI, against the Flask hub stand-in.</summary>
public class HubCliTests(HubStandin hub) : IClassFixture<HubStandin>, IAsyncLifetime
{
    public Task InitializeAsync() => hub.ResetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    private void Require()
    {
        hub.Require();
        Skip.IfNot(File.Exists(TestEnvironment.CliDll), "the CLI is not built");
    }

    private static (int Code, string StdOut, string StdErr) Cli(string token, params string[] args) =>
        TestEnvironment.Run("dotnet", new[] { TestEnvironment.CliDll }.Concat(args),
            timeout: TimeSpan.FromMinutes(5), environment: new Dictionary<string, string> { ["RFS_HUB_TOKEN"] = token });

    [SkippableFact]
    public void Push_File_SendsContentLength_TheHubUnpacksTheTree_AndTheTokenIsNeverPrinted()
    {
        Require();
        var dir = TestEnvironment.NewTempDir("rff-hubcli");
        var src = HubTrees.Make(dir);
        var tgz = HubTrees.TarGz(src, Path.Combine(dir, "myroot.tar.gz"));
        var (code, stdout, err) = Cli(HubStandin.Token, "push", tgz, "--hub", hub.Url.ToString());
        Assert.True(code == 0, err);
        Assert.Equal("myroot.flist", stdout.Trim());
        Assert.Contains($"{hub.Url}alice/myroot.flist", err);
        Assert.DoesNotContain(HubStandin.Token, stdout + err);

        var request = hub.UploadRequestOf("myroot.tar.gz");
        Assert.Equal(JsonValueKind.Null, request.GetProperty("transfer_encoding").ValueKind);
        long contentLength = long.Parse(HubStandin.Str(request, "content_length")!);
        Assert.InRange(contentLength - new FileInfo(tgz).Length, 100, 1000);
        var upload = request.GetProperty("upload");
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(tgz))), HubStandin.Str(upload, "sha256"));
        Assert.Equal(0, upload.GetProperty("tar_exit").GetInt32());
        Assert.Equal(HubTrees.Listing(src), HubTrees.Listing(HubStandin.Str(upload, "workspace")!));
        Assert.DoesNotContain(HubStandin.Token, File.ReadAllText(hub.LogPath));
    }

    [SkippableFact]
    public void Push_RefusedToken_And_ReadOnlyHub_AreClearErrors_Exit1()
    {
        Require();
        var dir = TestEnvironment.NewTempDir("rff-hubcli");
        File.WriteAllBytes(Path.Combine(dir, "x.tar.gz"), [0x1f, 0x8b, 0, 0]);
        const string wrong = "wrong-token-456";
        var (code, stdout, err) = Cli(wrong, "push", Path.Combine(dir, "x.tar.gz"), "--hub", hub.Url.ToString());
        Assert.Equal(1, code);
        Assert.Contains("the hub refused the token (HTTP 401): invalid signature", err);
        Assert.DoesNotContain(wrong, stdout + err);

        hub.ConfigureAsync(new { @readonly = true }).GetAwaiter().GetResult();
        (code, stdout, err) = Cli(HubStandin.Token, "push", Path.Combine(dir, "x.tar.gz"), "--hub", hub.Url.ToString());
        Assert.Equal(1, code);
        Assert.Contains("HTTP 400; a read-only hub answers 400 to every call): readonly mode", err);
        Assert.DoesNotContain(HubStandin.Token, stdout + err);
        Assert.DoesNotContain(wrong, File.ReadAllText(hub.LogPath));
    }

    [SkippableFact]
    public void Push_AsyncHub_ShowsTheJobsProgress_AndAConversionFailureIsExit1()
    {
        Require();
        var dir = TestEnvironment.NewTempDir("rff-hubcli");
        var tree = Path.Combine(dir, "t");
        Directory.CreateDirectory(tree);
        File.WriteAllText(Path.Combine(tree, "hello"), "hi\n");
        var tgz = HubTrees.TarGz(tree, Path.Combine(dir, "small.tar.gz"));
        hub.ConfigureAsync(new { async_api = true }).GetAwaiter().GetResult();
        var (code, stdout, err) = Cli(HubStandin.Token, "push", tgz, "--hub", hub.Url.ToString());
        Assert.True(code == 0, err);
        Assert.Equal("small.flist", stdout.Trim());
        Assert.Contains("rootfsforge: hub: Image ready ! (100 %)", err);

        hub.ConfigureAsync(new { fail_conversion = "zflist putdir: no space left on device" }).GetAwaiter().GetResult();
        (code, stdout, err) = Cli(HubStandin.Token, "push", tgz, "--hub", hub.Url.ToString(), "--name", "small2");
        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.Contains("the hub failed to convert small2.tar.gz", err);
        Assert.Contains("zflist putdir: no space left on device", err);
        Assert.DoesNotContain(HubStandin.Token, err);
    }

    /// <summary>
    /// A qcow2 made from a tree by mke2fs -d and qemu-img, extracted straight into the hub: the upload is streamed
    /// (chunked, no temporary file) and the tree GNU tar unpacks from it on the hub is the source tree.
    /// </summary>
    [SkippableFact]
    public void Extract_ToHub_StreamsChunked_AndTheUnpackedUploadIsTheTree()
    {
        Require();
        TestEnvironment.RequireTool("mke2fs");
        TestEnvironment.RequireTool("qemu-img");
        var dir = TestEnvironment.NewTempDir("rff-hubcli");
        var src = HubTrees.Make(dir);
        var raw = Path.Combine(dir, "fs.img");
        var qcow2 = Path.Combine(dir, "small.qcow2");
        TestEnvironment.RunChecked("mke2fs", ["-q", "-F", "-t", "ext4", "-d", src, raw, "32M"]);
        TestEnvironment.RunChecked("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", raw, qcow2]);

        var (code, stdout, err) = Cli(HubStandin.Token, "extract", qcow2, "-o", "hub:streamed", "--hub", hub.Url.ToString(), "-q");
        Assert.True(code == 0, err);
        Assert.DoesNotContain(HubStandin.Token, stdout + err);

        var request = hub.UploadRequestOf("streamed.tar.gz");
        Assert.Equal("chunked", HubStandin.Str(request, "transfer_encoding"));
        Assert.Equal(JsonValueKind.Null, request.GetProperty("content_length").ValueKind);
        var upload = request.GetProperty("upload");
        Assert.Equal(0, upload.GetProperty("tar_exit").GetInt32());
        Assert.Equal(HubTrees.Listing(src), HubTrees.Listing(HubStandin.Str(upload, "workspace")!));
        Assert.True(File.Exists(hub.PublishedPath("streamed.flist")));
    }

    [SkippableFact]
    public void Extract_ToHub_ConversionFailure_FailsTheBuild_Exit1()
    {
        Require();
        TestEnvironment.RequireTool("mke2fs");
        var dir = TestEnvironment.NewTempDir("rff-hubcli");
        var tree = Path.Combine(dir, "t");
        Directory.CreateDirectory(Path.Combine(tree, "etc"));
        File.WriteAllText(Path.Combine(tree, "etc", "hostname"), "forge\n");
        var raw = Path.Combine(dir, "fs.img");
        TestEnvironment.RunChecked("mke2fs", ["-q", "-F", "-t", "ext4", "-d", tree, raw, "8M"]);
        hub.ConfigureAsync(new { async_api = true, fail_conversion = "zflist commit failed" }).GetAwaiter().GetResult();
        var (code, stdout, err) = Cli(HubStandin.Token, "extract", raw, "-o", "hub:bad", "--hub", hub.Url.ToString(), "-q");
        Assert.Equal(1, code);
        Assert.Contains("the hub failed to convert bad.tar.gz", err);
        Assert.Contains("zflist commit failed", err);
        Assert.DoesNotContain(HubStandin.Token, stdout + err);
        Assert.False(File.Exists(hub.PublishedPath("bad.flist")));
    }
}
