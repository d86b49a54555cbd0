using System.Diagnostics;
using System.Text.RegularExpressions;
using RootfsForge.NativeTests.Support;
using RootfsForge.Steps;
using Xunit;

namespace RootfsForge.NativeTests.Vm;

/// <summary>The vm/lint commands as processes: failure paths and SIGTERM leave no mounts, no staging and no output.</summary>
[Collection(PreparedDebianCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class VmCliTests(PreparedDebianFixture build)
{
    /// <summary>The CLI (ROOTFSFORGE_CLI_DLL overrides); skips unless it runs and has the vm command registered.</summary>
    private static string Cli()
    {
        var dll = Environment.GetEnvironmentVariable("ROOTFSFORGE_CLI_DLL") is { Length: > 0 } d ? d : TestEnvironment.CliDll;
        Skip.IfNot(File.Exists(dll), $"CLI not built at {dll}");
        var (code, _, _) = TestEnvironment.Run("dotnet", [dll, "vm", "--help"]);
        Skip.If(code != 0, "the CLI does not run 'vm --help' (command not registered in Commands/All.cs yet?)");
        return dll;
    }

    private static void AssertStagingGone(string stderr)
    {
        var staging = Regex.Matches(stderr, @"/var/tmp/rootfsforge-vm-[0-9a-f]+").Select(m => m.Value).Distinct().ToList();
        Assert.NotEmpty(staging);
        foreach (var s in staging)
        {
            Assert.Empty(MountTable.MountsUnder(s));
            Assert.False(Directory.Exists(s), $"staging {s} removed");
        }
    }

    [SkippableFact]
    public void Sigterm_during_an_install_unmounts_removes_staging_and_writes_no_output()
    {
        TestEnvironment.RequireRoot("chroot");
        var cli = Cli();
        DebianTree.EnsureCache();
        var dir = DebianTree.NewPrivateDir();
        try
        {
            var output = Path.Combine(dir, "out.tar.zst");
            var psi = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
            // -v: the staging folder is named in the step detail lines, which AssertStagingGone reads.
            foreach (var a in new[] { cli, "vm", DebianTree.CachedTree, "-o", output, "--install", "hello,tree", "-v" }) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            var stderr = new System.Text.StringBuilder();
            var installing = new ManualResetEventSlim();
            p.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is null) return;
                lock (stderr) stderr.AppendLine(e.Data);
                if (e.Data.StartsWith("[apt] ", StringComparison.Ordinal)) installing.Set();
            };
            p.BeginErrorReadLine();
            _ = p.StandardOutput.ReadToEndAsync();
            Assert.True(installing.Wait(TimeSpan.FromMinutes(5)), "apt started");
            Thread.Sleep(500);
            TestEnvironment.RunChecked("kill", ["-TERM", p.Id.ToString()]);
            Assert.True(p.WaitForExit(TimeSpan.FromMinutes(2)), "exits after SIGTERM");
            p.WaitForExit();
            Assert.Equal(130, p.ExitCode);
            Assert.False(File.Exists(output));
            Assert.Empty(Directory.GetFiles(dir));
            string log;
            lock (stderr) log = stderr.ToString();
            AssertStagingGone(log);
        }
        finally
        {
            TestEnvironment.Run("rm", ["-rf", "--one-file-system", dir]);
        }
    }

    [SkippableFact]
    public void A_failing_run_exits_1_with_no_output_and_nothing_mounted()
    {
        TestEnvironment.RequireRoot("chroot");
        var cli = Cli();
        DebianTree.EnsureCache();
        var dir = DebianTree.NewPrivateDir();
        try
        {
            var output = Path.Combine(dir, "out.tar.zst");
            var (code, _, err) = TestEnvironment.Run("dotnet", [cli, "vm", DebianTree.CachedTree, "-o", output, "--run", "echo failing; exit 3"]);
            Assert.Equal(1, code);
            Assert.Contains("exit code 3", err);
            Assert.Contains("[run] failing", err);
            Assert.False(File.Exists(output));
            AssertStagingGone(err);
        }
        finally
        {
            TestEnvironment.Run("rm", ["-rf", "--one-file-system", dir]);
        }
    }

    [SkippableFact]
    public void Lint_command_passes_the_built_tar_and_fails_the_raw_tree()
    {
        build.Require();
        var cli = Cli();
        var (ok, okOut, okErr) = TestEnvironment.Run("dotnet", [cli, "lint", build.Output]);
        Assert.True(ok == 0, okOut + okErr);
        Assert.Contains("lint (vm): passed", okOut);
        // The raw tree has no /boot/vmlinuz, so ZOS (and lint's detection) would take it for a container: ask for a VM.
        var (bad, badOut, _) = TestEnvironment.Run("dotnet", [cli, "lint", DebianTree.CachedTree, "--kind", "vm"]);
        Assert.Equal(4, bad); // ExitCodes.LintFailed
        Assert.Contains("V1   FAIL", badOut);
    }
}
