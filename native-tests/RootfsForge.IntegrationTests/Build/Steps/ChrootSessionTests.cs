using System.Diagnostics;
using RootfsForge.Processes;
using RootfsForge.Steps;
using Xunit;

namespace RootfsForge.NativeTests.Vm;

[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class ChrootSessionTests
{
    [SkippableFact]
    public async Task Mounts_while_open_and_unmounts_and_restores_after_success()
    {
        using var t = DebianTree.Create();
        var resolvBefore = File.ReadAllBytes(Path.Combine(t.Root, "etc/resolv.conf"));
        var lines = new List<string>();
        await using (var s = await ChrootSession.EnterAsync(t.Root, new ChrootOptions { Output = lines.Add }))
        {
            var mounts = t.Mounts;
            foreach (var m in new[] { "proc", "sys", "dev", "dev/pts", "run" })
                Assert.Contains(Path.Combine(t.Root, m), mounts);
            await s.RunShellAsync("echo hello; test -e /dev/null && echo devnull; cat /proc/self/cmdline | tr '\\0' ' '; echo; env | sort; /usr/sbin/policy-rc.d x start; echo rc=$?",
                "[t] ", CancellationToken.None);
            Assert.Contains("[t] hello", lines);
            Assert.Contains("[t] devnull", lines);
            Assert.Contains("[t] rc=101", lines);
            Assert.Contains("[t] DEBIAN_FRONTEND=noninteractive", lines);
            Assert.Contains("[t] HOME=/root", lines);
            Assert.DoesNotContain(lines, l => l.StartsWith("[t] USER=") || l.StartsWith("[t] DOTNET"));
        }
        Assert.Empty(t.Mounts);
        Assert.False(File.Exists(Path.Combine(t.Root, "usr/sbin/policy-rc.d")));
        Assert.Equal(resolvBefore, File.ReadAllBytes(Path.Combine(t.Root, "etc/resolv.conf")));
        Assert.DoesNotContain(Directory.GetFileSystemEntries(Path.Combine(t.Root, "etc")), f => f.Contains("rootfsforge"));
    }

    [SkippableFact]
    public async Task Restores_a_symlinked_resolv_conf_and_unmounts_after_a_failing_command()
    {
        using var t = DebianTree.Create();
        var resolv = Path.Combine(t.Root, "etc/resolv.conf");
        File.Delete(resolv);
        File.CreateSymbolicLink(resolv, "../run/systemd/resolve/stub-resolv.conf");
        await using (var s = await ChrootSession.EnterAsync(t.Root))
        {
            var e = await Assert.ThrowsAsync<ProcessFailedException>(() => s.RunShellAsync("grep -q nameserver /etc/resolv.conf && exit 7", "", default));
            Assert.Equal(7, e.ExitCode);
            Assert.Contains("'grep -q nameserver /etc/resolv.conf && exit 7'", e.Command);
            Assert.Equal(7, await s.RunUncheckedAsync(["/bin/sh", "-c", "exit 7"], "", default));
        }
        Assert.Empty(t.Mounts);
        Assert.Equal("../run/systemd/resolve/stub-resolv.conf", new FileInfo(resolv).LinkTarget);
    }

    [SkippableFact]
    public async Task Cancellation_mid_command_kills_it_and_unmounts()
    {
        using var t = DebianTree.Create();
        using var cts = new CancellationTokenSource();
        var sw = Stopwatch.StartNew();
        await using (var s = await ChrootSession.EnterAsync(t.Root))
        {
            cts.CancelAfter(TimeSpan.FromSeconds(2));
            // A background daemon too: it must be killed as well, or the unmount would be busy.
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
                s.RunShellAsync("sleep 300 </dev/null >/dev/null 2>&1 & exec sleep 300", "", cts.Token));
        }
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60), $"took {sw.Elapsed}");
        Assert.Empty(t.Mounts);
        var procs = Directory.EnumerateDirectories("/proc").Where(d => int.TryParse(Path.GetFileName(d), out _))
            .Select(d => { try { return new FileInfo(Path.Combine(d, "root")).LinkTarget; } catch (IOException) { return null; } catch (UnauthorizedAccessException) { return null; } })
            .Where(r => r is not null && r.StartsWith(t.Root, StringComparison.Ordinal)).ToList();
        Assert.Empty(procs);
    }

    [SkippableFact]
    public async Task Refuses_a_root_with_mounts_or_writable_by_others()
    {
        using var t = DebianTree.Create();
        File.SetUnixFileMode(t.Root, (UnixFileMode)0x1FF);
        await Assert.ThrowsAsync<InvalidOperationException>(() => ChrootSession.EnterAsync(t.Root));
        File.SetUnixFileMode(t.Root, (UnixFileMode)0x1ED);
        Support.TestEnvironment.RunChecked("mount", ["-t", "tmpfs", "tmpfs", Path.Combine(t.Root, "mnt")]);
        try
        {
            var e = await Assert.ThrowsAsync<InvalidOperationException>(() => ChrootSession.EnterAsync(t.Root));
            Assert.Contains("mounts below", e.Message);
        }
        finally
        {
            Support.TestEnvironment.RunChecked("umount", [Path.Combine(t.Root, "mnt")]);
        }
    }

    [SkippableFact]
    public async Task Refuses_symlinked_mount_points_without_touching_the_target()
    {
        using var t = DebianTree.Create();
        foreach (var (link, target) in new[] { ("proc", "/etc"), ("dev", "../../../../..") })
        {
            var p = Path.Combine(t.Root, link);
            var saved = p + ".orig";
            Directory.Move(p, saved);
            File.CreateSymbolicLink(p, target);
            var e = await Assert.ThrowsAsync<InvalidOperationException>(() => ChrootSession.EnterAsync(t.Root));
            Assert.Contains("symlink", e.Message);
            Assert.Empty(t.Mounts);
            Assert.Empty(MountTable.MountsUnder("/etc"));
            File.Delete(p);
            Directory.Move(saved, p);
        }
        Assert.False(File.Exists(Path.Combine(t.Root, "etc/resolv.conf.rootfsforge-saved")));
    }
}
