using RootfsForge.NativeTests.Support;
using RootfsForge.Steps;
using Xunit;

namespace RootfsForge.NativeTests.Vm;

/// <summary>
/// A private copy of the cached debootstrap tree (tools/make-debian-image.sh) in a fresh 0700 directory under /var/tmp;
/// disposing it checks nothing is mounted below and removes it.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class DebianTree : IDisposable
{
    public const string CachedTree = "/var/cache/rootfsforge/debian12-rootfs";

    private DebianTree(string dir)
    {
        Dir = dir;
        Root = Path.Combine(dir, "rootfs");
    }

    /// <summary>The private parent (0700).</summary>
    public string Dir { get; }

    /// <summary>The tree itself.</summary>
    public string Root { get; }

    /// <summary>Skips unless root and the cached tree are available (building it with the script if needed), then copies it.</summary>
    public static DebianTree Create()
    {
        TestEnvironment.RequireRoot("chroot, mounts and a root-owned tree");
        EnsureCache();
        var dir = NewPrivateDir();
        TestEnvironment.RunChecked("cp", ["-a", CachedTree, Path.Combine(dir, "rootfs")]);
        File.Delete(Path.Combine(dir, "rootfs", ".complete"));
        return new DebianTree(dir);
    }

    /// <summary>A fresh empty private tree (no Debian inside) for hostile-tree tests.</summary>
    public static DebianTree CreateEmpty()
    {
        TestEnvironment.RequireRoot("a root-owned tree");
        var dir = NewPrivateDir();
        Directory.CreateDirectory(Path.Combine(dir, "rootfs"));
        return new DebianTree(dir);
    }

    public static void EnsureCache()
    {
        if (File.Exists(Path.Combine(CachedTree, ".complete"))) return;
        TestEnvironment.RequireTool("debootstrap");
        var (code, _, err) = TestEnvironment.Run("bash", [Path.Combine(TestEnvironment.RepoRoot, "tools", "make-debian-image.sh")],
            timeout: TimeSpan.FromMinutes(40));
        Skip.If(code != 0 || !File.Exists(Path.Combine(CachedTree, ".complete")),
            $"the cached Debian tree could not be built (no mirror?): {err}");
    }

    public static string NewPrivateDir()
    {
        var dir = Path.Combine("/var/tmp", $"rff-vmtest-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return dir;
    }

    /// <summary>Mount points still below the directory.</summary>
    public IReadOnlyList<string> Mounts => MountTable.MountsUnder(Dir);

    public void Dispose()
    {
        Assert.Empty(MountTable.MountsUnder(Dir));
        TestEnvironment.Run("rm", ["-rf", "--one-file-system", Dir]);
    }
}
