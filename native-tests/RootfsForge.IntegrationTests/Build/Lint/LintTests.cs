using RootfsForge.Lint;
using RootfsForge.NativeTests.Support;
using RootfsForge.Steps;
using Xunit;

namespace RootfsForge.NativeTests.Vm;

/// <summary>Lint on copies of the prepared tree, each broken in one way: the right check fails with the right reason.</summary>
[Collection(PreparedDebianCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class LintTests(PreparedDebianFixture build)
{
    private LintReport LintBroken(Action<string> breakIt)
    {
        build.Require();
        var dir = DebianTree.NewPrivateDir();
        try
        {
            var root = Path.Combine(dir, "rootfs");
            TestEnvironment.RunChecked("cp", ["-a", build.Tree, root]);
            breakIt(root);
            return Linter.CheckDirectory(root);
        }
        finally
        {
            TestEnvironment.Run("rm", ["-rf", "--one-file-system", dir]);
        }
    }

    private static void Relink(string link, string target)
    {
        File.Delete(link);
        File.CreateSymbolicLink(link, target);
    }

    [SkippableFact]
    public void Absolute_boot_link_fails_V1()
    {
        var r = LintBroken(root => Relink(Path.Combine(root, "boot/vmlinuz"), "/boot/" + new FileInfo(Path.Combine(build.Tree, "boot/vmlinuz")).LinkTarget));
        Assert.False(r["V1"]!.Passed);
        Assert.Contains("absolute", r["V1"]!.Message);
        Assert.False(r.Passed);
    }

    [SkippableFact]
    public void Dotdot_boot_link_fails_V3()
    {
        var r = LintBroken(root => Relink(Path.Combine(root, "boot/initrd.img"), "../boot/" + new FileInfo(Path.Combine(build.Tree, "boot/initrd.img")).LinkTarget));
        Assert.False(r["V3"]!.Passed);
        Assert.Contains("..", r["V3"]!.Message);
    }

    [SkippableFact]
    public void Initrd_without_virtiofs_fails_V4()
    {
        var r = LintBroken(root =>
        {
            var initrd = Path.Combine(root, "boot", new FileInfo(Path.Combine(root, "boot/initrd.img")).LinkTarget!);
            var src = Path.Combine(Path.GetDirectoryName(root)!, "init-only");
            Directory.CreateDirectory(src);
            File.WriteAllText(Path.Combine(src, "init"), "#!/bin/sh\n");
            TestEnvironment.RunChecked("sh", ["-c", $"cd '{src}' && echo init | cpio -o -H newc --quiet | gzip > '{initrd}'"]);
        });
        Assert.False(r["V4"]!.Passed);
        Assert.Contains("no virtiofs.ko", r["V4"]!.Message);
    }

    [SkippableFact]
    public void Hygiene_failures_are_reported_each_with_its_reason()
    {
        var r = LintBroken(root =>
        {
            File.WriteAllText(Path.Combine(root, "etc/fstab"), "UUID=abcd / ext4 defaults 0 1\nLABEL=swap none swap sw 0 0\n");
            File.WriteAllBytes(Path.Combine(root, "image.raw"), new byte[10]);
            File.WriteAllText(Path.Combine(root, "etc/machine-id"), "0123456789abcdef0123456789abcdef\n");
            File.WriteAllText(Path.Combine(root, "etc/ssh/ssh_host_ed25519_key"), "x");
            Directory.CreateDirectory(Path.Combine(root, "var/lib/cloud/instances/i-1"));
            TestEnvironment.RunChecked("mknod", [Path.Combine(root, "dev/null"), "c", "1", "3"]);
            File.Delete(Path.Combine(root, "usr/lib/systemd/systemd"));
        });
        Assert.False(r["V6"]!.Passed);
        Assert.False(r["V7"]!.Passed);
        Assert.False(r["V8"]!.Passed);
        Assert.Contains("instances", r["V8"]!.Message);
        Assert.False(r["V9"]!.Passed);
        Assert.Contains("UUID=abcd", r["V9"]!.Message);
        Assert.False(r["V10"]!.Passed);
        Assert.Contains(r.Findings, f => f.Id == "V11" && !f.Passed && f.Message.Contains("machine-id"));
        Assert.Contains(r.Findings, f => f.Id == "V11" && !f.Passed && f.Message.Contains("host keys"));
        Assert.Equal(["V10", "V6", "V7", "V8", "V9"], r.Errors.Select(e => e.Id).Distinct().Order(StringComparer.Ordinal));
    }

    [SkippableFact]
    public void The_untouched_debootstrap_tree_fails_with_the_expected_reasons()
    {
        build.Require();
        var r = Linter.CheckDirectory(DebianTree.CachedTree);
        Assert.False(r["V1"]!.Passed); // Debian puts the links at /vmlinuz, not /boot/vmlinuz
        Assert.False(r["V10"]!.Passed); // debootstrap leaves device nodes in /dev
        Assert.False(r.Passed);
    }
}
