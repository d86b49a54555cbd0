using System.Diagnostics;
using RootfsForge.NativeTests.Disks;
using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Reliability;

/// <summary>
/// The rules for outputs (README "Outputs"), proven end to end with the built CLI: a closed stdout fails the run, bad
/// output and store options are usage errors before any work, and SIGINT at any moment of a .tar extraction, the final
/// fsync included, exits 130 leaving nothing behind.
/// </summary>
public sealed class OutputReliabilityTests
{
    private static readonly TimeSpan Quick = TimeSpan.FromSeconds(60);

    /// <summary>A qcow2 whose tar is ~3 MiB, far more than a pipe buffer (the truncation fixture, uncut).</summary>
    private static string SmallImage()
    {
        DiskFixtures.RequireQemu();
        TestEnvironment.RequireTool("mke2fs");
        return Path.Combine(Qcow2TruncationTests.Fixture(), "t.qcow2");
    }

    private const string Debian = "/var/cache/rootfsforge/debian12-zstd.qcow2";

    // ------------------------------------------------------------------ #3

    [SkippableTheory]
    [InlineData("head -c 100 >/dev/null")]
    [InlineData("true")]
    public void ClosedStdoutFailsTheRun(string consumer)
    {
        ReliabilityCli.Require();
        string image = SmallImage();
        // The CLI's own exit code, not the pipeline's: PIPESTATUS[0].
        string script = $"dotnet '{TestEnvironment.CliDll}' extract '{image}' -o - | {consumer}; echo \"cli-exit=${{PIPESTATUS[0]}}\"";
        var (code, stdout, stderr) = TestEnvironment.Run("bash", ["-c", script], timeout: Quick);
        Assert.Equal(0, code);
        Assert.DoesNotContain("cli-exit=0", stdout);
        Assert.Matches(@"cli-exit=[1-9]", stdout);
        Assert.Contains("output closed", stderr);
        Assert.DoesNotContain("-> stdout", stderr); // no success summary
    }

    // ------------------------------------------------------------------ #6

    public static TheoryData<string, string[]> BadOutputs => new()
    {
        { "extract -o ''", ["extract", "{image}", "-o", ""] },
        { "extract -o out.tar.xz", ["extract", "{image}", "-o", "{dir}/out.tar.xz"] },
        { "extract --store that misses 80-ff", ["extract", "{image}", "-o", "{dir}/x.fl", "--store", "00-7f=dir://{dir}/store"] },
        { "extract --store http:// (read-only)", ["extract", "{image}", "-o", "{dir}/x.fl", "--store", "http://127.0.0.1:9/blocks"] },
        { "extract -p 7 (no such partition)", ["extract", "{image}", "-o", "{dir}/out.tar", "-p", "7"] },
        { "extract --allow-backing-outside missing", ["extract", "{image}", "-o", "{dir}/out.tar", "--allow-backing-outside", "{dir}/nonexistent"] },
        { "vm -o ''", ["vm", "{debian}", "-o", ""] },
        { "vm --store 00-0f=…", ["vm", "{debian}", "-o", "{dir}/vm.fl", "--store", "00-0f=dir://{dir}/store"] },
        { "vm --store http:// (read-only)", ["vm", "{debian}", "-o", "{dir}/vm.fl", "--store", "http://127.0.0.1:9/blocks"] },
        { "fl extract -o ''", ["fl", "extract", "{fl}", "-o", ""] },
    };

    [SkippableTheory]
    [MemberData(nameof(BadOutputs))]
    public void BadOutputOrStoreIsAUsageErrorBeforeAnyWork(string what, string[] template)
    {
        ReliabilityCli.Require();
        string image = SmallImage();
        bool vm = template[0] == "vm";
        Skip.If(vm && !File.Exists(Debian), $"{Debian} is not cached (tools/test.sh builds it)");
        string dir = TestEnvironment.NewTempDir("rff-usage");
        try
        {
            string fl = Path.Combine(dir, "in", "x.fl");
            if (template[0] == "fl") MakeFlist(fl);
            var stagingBefore = Staging();
            var before = ReliabilityCli.Entries(dir);
            string[] args = template.Select(a => a.Replace("{image}", image).Replace("{debian}", Debian)
                .Replace("{dir}", dir).Replace("{fl}", fl)).ToArray();
            var r = ReliabilityCli.Run(TimeSpan.FromMinutes(2), args);
            Assert.True(r.ExitCode == 2, $"{what}: {r}");
            Assert.DoesNotContain("\n   at ", r.StdErr);
            Assert.StartsWith("rootfsforge: ", r.StdErr);
            // Before any work: no output, no store, no staging, and quick (a build would take minutes).
            Assert.Equal(before, ReliabilityCli.Entries(dir));
            Assert.Equal(stagingBefore, Staging());
            Assert.True(r.Elapsed < TimeSpan.FromSeconds(15), $"{what}: took {r.Elapsed.TotalSeconds:F1} s");
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    private static string[] Staging() =>
        Directory.Exists("/var/tmp")
            ? Directory.GetDirectories("/var/tmp", "rootfsforge-vm-*").Order().ToArray()
            : [];

    private static void MakeFlist(string fl)
    {
        string src = Path.Combine(Path.GetDirectoryName(fl)!, "src");
        Directory.CreateDirectory(src);
        File.WriteAllText(Path.Combine(src, "hello"), "hello\n");
        var r = ReliabilityCli.Run(Quick, "fl", "pack", src, "-o", fl, "--store", $"dir://{Path.GetDirectoryName(fl)}/store", "-q");
        Assert.True(r.ExitCode == 0, $"fl pack: {r}");
    }

    // ------------------------------------------------------------------ #9

    /// <summary>
    /// SIGINT as soon as the output is being written, midway (256 MiB written) and during the final fsync of a ~780 MB
    /// .tar (the cached Debian image): exit 130, no output and no temporary file. The late moment is found by watching
    /// /proc/PID/task/*/syscall for fsync, the window in which the interrupt was once ignored.
    /// </summary>
    [SkippableTheory]
    [InlineData("as soon as the output is written", 0L)]
    [InlineData("midway", 256L << 20)]
    [InlineData("during the final fsync", -1L)]
    public void SigintAtAnyMomentOfATarExtractionLeavesNothing(string moment, long written)
    {
        ReliabilityCli.Require();
        Skip.IfNot(File.Exists(Debian), $"{Debian} is not cached (tools/test.sh builds it)");
        string dir = TestEnvironment.NewTempDir("rff-sigint");
        try
        {
            string output = Path.Combine(dir, "deb.tar");
            var (p, stdout, stderr) = ReliabilityCli.Start("extract", Debian, "-o", output, "-q");
            using (p)
            {
                var sw = Stopwatch.StartNew();
                bool sent = false;
                while (!p.HasExited && sw.Elapsed < TimeSpan.FromMinutes(3))
                {
                    bool now = written >= 0
                        ? Directory.GetFiles(dir, ".deb.tar.tmp*").Any(f => new FileInfo(f).Length >= Math.Max(1, written))
                        : ReliabilityCli.InFsync(p.Id);
                    if (now)
                    {
                        ReliabilityCli.Signal(p, ReliabilityCli.SIGINT);
                        sent = true;
                        break;
                    }
                    Thread.Sleep(written >= 0 ? 5 : 1);
                }
                Skip.If(!sent && written < 0,
                    "the extraction ended without an fsync long enough to observe (a very fast disk); the late window was not hit");
                Assert.True(sent, $"{moment}: the process ended before the signal");
                Assert.True(p.WaitForExit(TimeSpan.FromSeconds(30)), $"{moment}: still running 30 s after SIGINT");
                p.WaitForExit();
                Assert.True(p.ExitCode == 130, $"{moment}: exit {p.ExitCode}: {stderr.Result}");
                Assert.Contains("interrupted", stderr.Result);
                Assert.Empty(stdout.Result);
            }
            Assert.Empty(ReliabilityCli.Entries(dir)); // neither deb.tar nor .deb.tar.tmp-*
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
