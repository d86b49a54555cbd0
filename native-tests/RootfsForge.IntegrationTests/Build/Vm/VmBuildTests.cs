using RootfsForge.Kernel;
using RootfsForge.Lint;
using RootfsForge.NativeTests.Support;
using RootfsForge.Steps;
using Xunit;

namespace RootfsForge.NativeTests.Vm;

/// <summary>End-to-end: the shared build's tar (read back with GNU tar) and its kept tree.</summary>
[Collection(PreparedDebianCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class VmBuildTests(PreparedDebianFixture build)
{
    private Dictionary<string, string[]> TarListing()
    {
        var listing = TestEnvironment.RunChecked("tar", ["--numeric-owner", "-I", "zstd", "-tvf", build.Output]);
        return listing.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .ToDictionary(f => f[5].TrimStart('.').TrimStart('/'), f => f);
    }

    [SkippableFact]
    public void Tar_holds_the_package_the_copy_and_the_command_results()
    {
        build.Require();
        var tar = TarListing();
        Assert.True(tar.ContainsKey("usr/bin/hello"), "hello's binary is in the output");
        Assert.Equal("-rw-r-----", tar["etc/motd"][0]);
        Assert.Equal("1000/1001", tar["etc/motd"][1]);
        var motd = TestEnvironment.RunChecked("tar", ["-I", "zstd", "-xOf", build.Output, "./etc/motd"]);
        Assert.Equal("copied by the test\n", motd);
        Assert.Equal("ran-in-chroot\n", TestEnvironment.RunChecked("tar", ["-I", "zstd", "-xOf", build.Output, "./root/ran"]));
        Assert.Equal("script ran as 0\n", TestEnvironment.RunChecked("tar", ["-I", "zstd", "-xOf", build.Output, "./root/script-ran"]));
        Assert.DoesNotContain(tar.Keys, k => k.StartsWith("tmp/rootfsforge-script", StringComparison.Ordinal));
        Assert.DoesNotContain(tar.Keys, k => k.Contains("rootfsforge-saved") || k == "usr/sbin/policy-rc.d");
        // /boot links: relative, same directory, to regular files in the tar.
        Assert.StartsWith("l", tar["boot/vmlinuz"][0]);
        var kernelTarget = tar["boot/vmlinuz"][^1];
        Assert.DoesNotContain("/", kernelTarget);
        Assert.StartsWith("-", tar["boot/" + kernelTarget][0]);
        var initrdTarget = tar["boot/initrd.img"][^1];
        Assert.DoesNotContain("/", initrdTarget);
        Assert.StartsWith("-", tar["boot/" + initrdTarget][0]);
        // /dev empty, machine-id empty, no host keys.
        Assert.DoesNotContain(tar.Keys, k => k.StartsWith("dev/", StringComparison.Ordinal) && k != "dev/");
        Assert.Equal("0", tar["etc/machine-id"][2]);
        Assert.DoesNotContain(tar.Keys, k => k.StartsWith("etc/ssh/ssh_host_", StringComparison.Ordinal));
    }

    [SkippableFact]
    public void Nothing_stays_mounted_and_the_summary_has_every_step()
    {
        build.Require();
        Assert.Empty(MountTable.MountsUnder(build.Dir));
        var steps = build.Result!.Steps.Select(s => s.Step).ToList();
        Assert.Contains("install packages", steps);
        Assert.Contains("kernel", steps);
        Assert.Contains("ZOS preparation", steps);
        Assert.Contains("lint", steps);
        Assert.Contains("write output", steps);
        Assert.True(build.Result.Lint!.Passed);
        Assert.Contains(build.Log, l => l.StartsWith("[apt] ", StringComparison.Ordinal));
        Assert.Contains(build.Log, l => l.StartsWith("[initramfs] ", StringComparison.Ordinal));
    }

    [SkippableFact]
    public async Task Initrd_lists_virtiofs_by_our_parser_and_by_lsinitramfs()
    {
        build.Require();
        var initrd = Path.Combine(build.Tree, "boot", "initrd.img");
        using (var s = File.OpenRead(initrd))
            Assert.Contains(InitramfsReader.ListNames(s), n => n.EndsWith("/virtiofs.ko", StringComparison.Ordinal));
        // Oracle: the image's own lsinitramfs (initramfs-tools), run in a chroot session on a copy of the kept tree.
        var dir = DebianTree.NewPrivateDir();
        try
        {
            TestEnvironment.RunChecked("cp", ["-a", build.Tree, Path.Combine(dir, "rootfs")]);
            var lines = new List<string>();
            await using (var session = await ChrootSession.EnterAsync(Path.Combine(dir, "rootfs"), new ChrootOptions { Output = lines.Add }))
                await session.RunAsync(["lsinitramfs", "/boot/initrd.img"], "", default);
            Assert.Contains(lines, l => l.EndsWith("/virtiofs.ko", StringComparison.Ordinal));
            using var s2 = File.OpenRead(initrd);
            var ours = InitramfsReader.ListNames(s2).Select(n => n.TrimEnd('/')).Where(n => n != ".").ToHashSet();
            var theirs = lines.Select(l => l.Trim()).Where(l => l.Length > 0 && l != ".").ToHashSet();
            Assert.True(theirs.Count > 100, $"lsinitramfs listed {theirs.Count} names");
            Assert.Empty(theirs.Except(ours));
        }
        finally
        {
            Assert.Empty(MountTable.MountsUnder(dir));
            TestEnvironment.Run("rm", ["-rf", "--one-file-system", dir]);
        }
    }

    [SkippableFact]
    public async Task Lint_passes_on_the_prepared_tree_and_on_its_tar()
    {
        build.Require();
        var report = Linter.CheckDirectory(build.Tree);
        Assert.True(report.Passed, string.Join('\n', report.Findings));
        Assert.All(report.Findings.Where(f => f.Severity != LintSeverity.Info), f => Assert.True(f.Passed, f.ToString()));
        // The written .tar.zst, read in place through ITreeSource: the same verdict for every check.
        using var source = new RootfsForge.Tar.TarArchiveSource(build.Output);
        var fromTar = await Linter.CheckSourceAsync(source);
        Assert.Equal(report.Findings.Where(f => f.Id != "V15").Select(f => (f.Id, f.Passed)),
            fromTar.Findings.Where(f => f.Id != "V15").Select(f => (f.Id, f.Passed)));
    }
}
