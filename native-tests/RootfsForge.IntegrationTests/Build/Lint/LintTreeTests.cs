using RootfsForge.IO;
using RootfsForge.Lint;
using RootfsForge.NativeTests.Support;
using RootfsForge.Tar;
using RootfsForge.Tree;
using Xunit;

namespace RootfsForge.NativeTests.Vm;

/// <summary>
/// The linter resolves symlinks as the guest will (chroot-style, through the shared PathResolver), on a directory and on
/// a tar of it made by GNU tar. The oracle is the kernel: openat2(RESOLVE_IN_ROOT) on the same directory.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class LintTreeTests : IDisposable
{
    private static readonly string[] Paths =
    [
        "sbin/init", "./sbin/../sbin/init", "abs/systemd/systemd", "up/lib/systemd/systemd", "loop1", "dangling", "dirlink",
        "dirlink/..", "dirlink/../sbin/init", "usr/lib/systemd/systemd/x", "selfloop/x", "etc/os-release", "boot/vmlinuz", "",
    ];

    private readonly string _dir = TestEnvironment.NewTempDir("rff-linttree");

    public LintTreeTests()
    {
        var root = Root;
        foreach (var d in new[] { "etc", "usr/lib/systemd", "usr/sbin", "boot" }) Directory.CreateDirectory(Path.Combine(root, d));
        File.WriteAllText(Path.Combine(root, "usr/lib/systemd/systemd"), "#!/bin/sh\n");
        File.WriteAllText(Path.Combine(root, "etc/os-release"), "ID=test\n");
        File.WriteAllBytes(Path.Combine(root, "boot/vmlinuz-1"), new byte[16]);
        void Link(string at, string target) => File.CreateSymbolicLink(Path.Combine(root, at), target);
        Link("sbin", "usr/sbin");
        Link("usr/sbin/init", "../lib/systemd/systemd");
        Link("abs", "/usr/lib");
        Link("up", "../../../../usr");        // ".." above the root stays at the root
        Link("loop1", "loop2");
        Link("loop2", "/loop1");
        Link("selfloop", "selfloop");
        Link("dangling", "nowhere");
        Link("dirlink", "etc");
        Link("boot/vmlinuz", "vmlinuz-1");
    }

    private string Root => Path.Combine(_dir, "rootfs");

    public void Dispose() => Directory.Delete(_dir, true);

    [SkippableFact]
    public async Task Directory_and_tar_views_resolve_like_the_kernel_in_a_chroot()
    {
        TestEnvironment.RequireTool("tar");
        var expected = Paths.ToDictionary(p => p, KernelResolve);
        var expectedLstat = Paths.ToDictionary(p => p, KernelLstatType);
        Assert.Equal("usr/lib/systemd/systemd", expected["sbin/init"]); // the oracle itself is sane
        Assert.Null(expected["loop1"]);
        Assert.Equal(EntryType.SymbolicLink, expectedLstat["sbin/init"]);  // found through the sbin link, not followed itself

        using (var directory = new DirectoryLintTree(Root))
            foreach (var p in Paths)
            {
                Assert.True(expected[p] == directory.Resolve(p)?.Path, $"directory: {p} -> {directory.Resolve(p)?.Path ?? "null"}, kernel: {expected[p] ?? "null"}");
                Assert.True(expectedLstat[p] == directory.Get(p)?.Type, $"directory lstat: {p}: {directory.Get(p)?.Type}, kernel: {expectedLstat[p]}");
            }

        var tar = Path.Combine(_dir, "tree.tar");
        TestEnvironment.RunChecked("tar", ["-C", Root, "-cf", tar, "."]);
        using var source = new TarArchiveSource(tar);
        using var tarTree = await SourceLintTree.CreateAsync(source, default);
        foreach (var p in Paths)
        {
            Assert.True(expected[p] == tarTree.Resolve(p)?.Path, $"tar: {p} -> {tarTree.Resolve(p)?.Path ?? "null"}, kernel: {expected[p] ?? "null"}");
            Assert.True(expectedLstat[p] == tarTree.Get(p)?.Type, $"tar lstat: {p}: {tarTree.Get(p)?.Type}, kernel: {expectedLstat[p]}");
        }
        Assert.Equal(["init"], tarTree.List("sbin")); // listing through a symlinked directory, as ls sbin/ does
    }

    /// <summary>The type lstat(2) reports inside the chroot (parents followed, the last component not); null when it fails.</summary>
    private EntryType? KernelLstatType(string path)
    {
        using var root = Posix.OpenAt(null, Root, Posix.O_PATH | Posix.O_DIRECTORY);
        try
        {
            using var fd = Posix.OpenAt2(root, path.Length == 0 ? "." : path, Posix.O_PATH | Posix.O_NOFOLLOW,
                Posix.RESOLVE_IN_ROOT | Posix.RESOLVE_NO_MAGICLINKS);
            return FileTypeBits.ToEntryType(Posix.Stat(fd).Mode);
        }
        catch (IOException e) when (Posix.Errno(e) is Posix.ENOENT or Posix.ELOOP or Posix.ENOTDIR)
        {
            return null;
        }
    }

    /// <summary>Where the kernel lands resolving <paramref name="path"/> with the directory as its root; null when it fails.</summary>
    private string? KernelResolve(string path)
    {
        using var root = Posix.OpenAt(null, Root, Posix.O_PATH | Posix.O_DIRECTORY);
        try
        {
            using var fd = Posix.OpenAt2(root, path.Length == 0 ? "." : path, Posix.O_PATH, Posix.RESOLVE_IN_ROOT | Posix.RESOLVE_NO_MAGICLINKS);
            var full = Posix.ReadLinkAt(null, Posix.FdPath(fd));
            return full == Root ? "" : full[(Root.Length + 1)..];
        }
        catch (IOException e) when (Posix.Errno(e) is Posix.ENOENT or Posix.ELOOP or Posix.ENOTDIR)
        {
            return null;
        }
    }
}
