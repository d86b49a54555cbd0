using RootfsForge.Definitions;
using RootfsForge.Diff;
using RootfsForge.NativeTests.Support;
using RootfsForge.Sources.Flist;
using Xunit;

namespace RootfsForge.NativeTests.Definitions;

/// <summary>
/// Issue 11 §2: a vm build that installs packages from a live mirror cannot repeat byte for byte, but a rebuild must stay
/// cheap to publish. On the cached Debian 12 test image, a definition that installs a small package from Debian's mirror
/// (and writes a stamp that changes every build) is built twice into a <c>.fl</c> with a <c>dir://</c> store; the second
/// build's blocks that the first did not have are at most 5 % of its bytes, and <c>build --compare</c> names the
/// differing files.
/// </summary>
public class LiveMirrorRebuildTests
{
    private const string DebianQcow2 = "/var/cache/rootfsforge/debian12-zstd.qcow2";
    private const string Mirror = "http://deb.debian.org/debian";

    /// <summary>Skips unless Debian's mirror answers (the test installs a package from it).</summary>
    private static void RequireMirror()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(15) };
        string? why = null;
        try
        {
            using var response = http.Send(new HttpRequestMessage(HttpMethod.Head, Mirror + "/dists/bookworm/Release"));
            if (!response.IsSuccessStatusCode) why = $"answered {(int)response.StatusCode}";
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            why = e.Message;
        }
        Skip.If(why is not null, $"Debian's mirror {Mirror} is unreachable ({why}): the rebuild installs a package from it");
    }

    [SkippableFact]
    public async Task SecondBuild_NewBlocksAtMostFivePercent_CompareNamesTheDifferingFiles()
    {
        TestEnvironment.RequireRoot("the vm pipeline runs commands in a chroot");
        Skip.IfNot(File.Exists(DebianQcow2), $"{DebianQcow2} (tools/make-debian-image.sh) is not there");
        Skip.IfNot(File.Exists(TestEnvironment.CliDll), "the CLI is not built");
        RequireMirror();

        var work = TestEnvironment.NewTempDir("rff-rebuild");
        var images = Path.Combine(work, "images");
        Directory.CreateDirectory(images);
        var yaml = Path.Combine(images, "rebuild.yaml");
        File.WriteAllText(yaml, $"""
            name: rebuild
            kind: vm
            from: {"{"}path: {DebianQcow2}{"}"}
            packages: {"{"}install: [tree]{"}"}
            run: ["date +%s%N > /etc/build-stamp"]
            outputs: [{"{"}fl: {"{"}stores: ["dir://{work}/store"]{"}"}{"}"}]
            """);
        var cache = Path.Combine(work, "cache");
        string out1 = Path.Combine(work, "out1"), out2 = Path.Combine(work, "out2");
        // A block index of the test's own, so what the first build stored is all the second can reuse.
        (int ExitCode, string StdOut, string StdErr) Build(params string[] args) => TestEnvironment.Run("env",
            ["XDG_CACHE_HOME=" + Path.Combine(work, "xdg"), "dotnet", TestEnvironment.CliDll, "build", yaml, "--cache", cache, .. args],
            timeout: TimeSpan.FromMinutes(20));

        var first = Build("-O", out1);
        Assert.True(first.ExitCode == 0, first.StdErr);
        var second = Build("-O", out2, "--compare", Path.Combine(out1, "rebuild.build.json"));
        Assert.True(second.ExitCode == 0, second.StdErr);

        // The package came from the mirror in both builds.
        foreach (var o in new[] { out1, out2 })
            Assert.Contains(BuildManifest.Parse(File.ReadAllBytes(Path.Combine(o, "rebuild.build.json"))).Packages, p => p.Name == "tree");

        // The oracle: the tree diff of the two .fl files, computed here from the files themselves.
        TreeDiffResult diff;
        await using (var a = FlistSource.Open(Path.Combine(out1, "rebuild.fl")))
        await using (var b = FlistSource.Open(Path.Combine(out2, "rebuild.fl")))
            diff = await TreeDiff.CompareAsync(a, b);
        var delta = diff.Blocks!;
        Assert.True(delta.Bytes > 100_000_000, $"the second build has only {delta.Bytes} bytes of blocks");
        Assert.True(delta.NewBytes <= delta.Bytes * 0.05,
            $"new blocks: {delta.NewBlocks} of {delta.Blocks}, {delta.NewBytes} of {delta.Bytes} bytes ({100.0 * delta.NewBytes / delta.Bytes:0.00} %): more than 5 %");

        // --compare reports every differing path the oracle found (the stamp at least), and the new blocks.
        Assert.Contains(diff.Changes, c => c.Path == "etc/build-stamp");
        Assert.Contains("compared with " + Path.Combine(out1, "rebuild.build.json"), second.StdOut, StringComparison.Ordinal);
        foreach (var c in diff.Changes)
            Assert.Contains(TreePathDisplay(c.Path), second.StdOut, StringComparison.Ordinal);
        Assert.Contains($"new blocks: {delta.NewBlocks} of {delta.Blocks} (", second.StdOut, StringComparison.Ordinal);
    }

    private static string TreePathDisplay(string path) => RootfsForge.Tree.TreePath.Display(path);
}
