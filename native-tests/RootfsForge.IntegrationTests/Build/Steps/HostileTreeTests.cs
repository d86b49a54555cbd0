using System.Security.Cryptography;
using RootfsForge.NativeTests.Support;
using RootfsForge.Steps;
using Xunit;

namespace RootfsForge.NativeTests.Vm;

/// <summary>
/// Trees whose symlinks point at host paths (absolute and with ".." escapes): no step may write, truncate or delete
/// anything outside the staging root. Canary files on the host are compared before and after.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class HostileTreeTests : IDisposable
{
    private readonly string _canary;
    private readonly Dictionary<string, (string Hash, DateTime Mtime)> _before;

    public HostileTreeTests()
    {
        _canary = Path.Combine("/var/tmp", $"rff-canary-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path.Combine(_canary, "dir"));
        File.WriteAllText(Path.Combine(_canary, "file"), "canary file\n");
        File.WriteAllText(Path.Combine(_canary, "dir", "ssh_host_rsa_key"), "canary key\n");
        File.WriteAllText(Path.Combine(_canary, "dir", "syslog"), "canary log\n");
        File.WriteAllText(Path.Combine(_canary, "dir", "fstab"), "UUID=canary / ext4 defaults 0 1\n");
        _before = Snapshot();
    }

    private Dictionary<string, (string, DateTime)> Snapshot() =>
        Directory.EnumerateFileSystemEntries(_canary, "*", SearchOption.AllDirectories).Append("/etc/shadow").Append("/etc/hostname")
            .Where(File.Exists)
            .ToDictionary(p => p, p => (Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(p))), File.GetLastWriteTimeUtc(p)));

    private void AssertCanariesUntouched()
    {
        var after = Snapshot();
        Assert.Equal(_before.Keys.Order(), after.Keys.Order());
        foreach (var (k, v) in _before) Assert.Equal(v, after[k]);
        Assert.False(File.Exists("/etc/vmlinuz") || File.Exists("/etc/initrd.img"), "nothing written into the host's /etc");
    }

    public void Dispose() => Directory.Delete(_canary, true);

    private static string Escape(string hostPath) => "../../../../../../../../.." + hostPath; // '..' beyond the root

    [SkippableFact]
    public void Zos_preparation_and_copies_stay_inside()
    {
        using var t = DebianTree.CreateEmpty();
        var r = t.Root;
        foreach (var d in new[] { "etc", "var/lib", "usr/bin", "root" }) Directory.CreateDirectory(Path.Combine(r, d));
        File.CreateSymbolicLink(Path.Combine(r, "dev"), Path.Combine(_canary, "dir"));           // absolute host path
        File.CreateSymbolicLink(Path.Combine(r, "var/log"), Escape(Path.Combine(_canary, "dir"))); // '..' escape
        File.CreateSymbolicLink(Path.Combine(r, "etc/ssh"), Path.Combine(_canary, "dir"));
        File.CreateSymbolicLink(Path.Combine(r, "etc/fstab"), Escape(Path.Combine(_canary, "dir", "fstab")));
        File.CreateSymbolicLink(Path.Combine(r, "etc/hostname"), "/etc/hostname");               // the tree's own, chroot-style
        File.CreateSymbolicLink(Path.Combine(r, "etc/resolv.conf"), "/etc/shadow");
        File.CreateSymbolicLink(Path.Combine(r, "etc/machine-id"), Path.Combine(_canary, "file"));
        File.CreateSymbolicLink(Path.Combine(r, "tmp"), "/");                                     // must not empty the tree
        File.CreateSymbolicLink(Path.Combine(r, "opt"), Escape(_canary));
        File.WriteAllText(Path.Combine(r, "keep-me"), "x");

        ZosPreparation.Run(r);
        var src = Path.Combine(t.Dir, "src");
        Directory.CreateDirectory(src);
        File.WriteAllText(Path.Combine(src, "f"), "payload\n");
        FileSteps.Copy(r, new CopySpec(Path.Combine(src, "f"), "/opt/file", 0, 0, 0x1A4));
        FileSteps.Copy(r, new CopySpec(Path.Combine(src, "f"), "/etc/motd"));
        File.CreateSymbolicLink(Path.Combine(r, "etc/issue"), Path.Combine(_canary, "file"));
        FileSteps.Copy(r, new CopySpec(src, "/etc/issue.d"));
        FileSteps.Copy(r, new CopySpec(Path.Combine(src, "f"), "/etc/issue")); // replaces the link, does not follow it

        AssertCanariesUntouched();
        Assert.True(File.Exists(Path.Combine(r, "keep-me")));
        // The /opt link resolves inside the tree (as the chroot sees it) to nothing: the dangling link became a directory.
        Assert.Equal("payload\n", File.ReadAllText(Path.Combine(r, "opt", "file")));
        Assert.Null(new DirectoryInfo(Path.Combine(r, "opt")).LinkTarget);
        Assert.Null(new FileInfo(Path.Combine(r, "etc/issue")).LinkTarget);
        Assert.Equal("payload\n", File.ReadAllText(Path.Combine(r, "etc/issue")));
        Assert.Equal(0, new FileInfo(Path.Combine(r, "etc/machine-id")).Length);
        Assert.Null(new FileInfo(Path.Combine(r, "etc/machine-id")).LinkTarget);
    }

    [SkippableFact]
    public async Task Kernel_files_into_a_boot_symlinked_to_etc_stay_inside()
    {
        foreach (var boot in new[] { "/etc", Escape("/etc") })
        {
            using var t = DebianTree.CreateEmpty();
            var r = t.Root;
            Directory.CreateDirectory(Path.Combine(r, "etc"));
            File.CreateSymbolicLink(Path.Combine(r, "boot"), boot);
            var k = Path.Combine(t.Dir, "k");
            File.WriteAllBytes(k, new byte[4096]);
            await using (var session = await ChrootSession.EnterAsync(r))
                await KernelStep.RunAsync(session, null, KernelChoice.Parse($"vmlinuz={k},initrd={k}"), false, KernelDefinition.Embedded, null, default);
            Assert.True(File.Exists(Path.Combine(r, "etc/vmlinuz")));
            Assert.True(File.Exists(Path.Combine(r, "etc/initrd.img")));
            Assert.Empty(t.Mounts);
            AssertCanariesUntouched();
        }
    }

    [SkippableFact]
    public async Task Chroot_session_never_writes_through_a_resolv_conf_link_to_shadow()
    {
        using var t = DebianTree.Create();
        var r = t.Root;
        var treeShadow = File.ReadAllBytes(Path.Combine(r, "etc/shadow"));
        File.Delete(Path.Combine(r, "etc/resolv.conf"));
        File.CreateSymbolicLink(Path.Combine(r, "etc/resolv.conf"), "/etc/shadow");
        File.Delete(Path.Combine(r, "usr/sbin/policy-rc.d"));
        File.CreateSymbolicLink(Path.Combine(r, "usr/sbin/policy-rc.d"), Escape(Path.Combine(_canary, "file")));
        var lines = new List<string>();
        await using (var s = await ChrootSession.EnterAsync(r, new ChrootOptions { Output = lines.Add }))
            await s.RunShellAsync("cat /etc/resolv.conf | head -1; /usr/sbin/policy-rc.d; echo rc=$?", "", default);
        Assert.Contains("rc=101", lines);
        Assert.Equal(treeShadow, File.ReadAllBytes(Path.Combine(r, "etc/shadow")));
        Assert.Equal("/etc/shadow", new FileInfo(Path.Combine(r, "etc/resolv.conf")).LinkTarget);
        Assert.Equal(Escape(Path.Combine(_canary, "file")), new FileInfo(Path.Combine(r, "usr/sbin/policy-rc.d")).LinkTarget);
        AssertCanariesUntouched();
    }
}
