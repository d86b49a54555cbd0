using System.Runtime.InteropServices;
using RootfsForge.Ext4;
using RootfsForge.NativeTests.Support;
using RootfsForge.Tree;
using Xunit;
using RootfsForge.Disks;

namespace RootfsForge.NativeTests.Ext4;

/// <summary>
/// The lookups that follow symlinks inside the filesystem (<see cref="Ext4FileSystem.ResolvePath"/>, <c>GetEntry(path,
/// followSymlinks: true)</c>, <see cref="Ext4FileSystem.OpenFile"/>) against the kernel's own chroot-style resolution:
/// <c>openat2(RESOLVE_IN_ROOT)</c> on the source tree that <c>mke2fs -d</c> copied into the image, which resolves absolute
/// symlinks and <c>..</c> at the tree's root exactly as a chroot does.
/// </summary>
public partial class Ext4LookupTests
{
    private static readonly Lock Gate = new();

    /// <summary>Paths that exercise absolute and relative links, <c>..</c> chains (clamped at the root), a loop, dangling links.</summary>
    public static TheoryData<string> Paths =>
    [
        "etc/os-release", "/etc/os-release", "etc/abs", "/etc/abs", "etc/rel", "bin/up", "bin/up-deep", "bin/over-root",
        "chain1", "lib/os-release", "dirlink/os-release", "dirlink/../etc/os-release", "bin/../lib", "loop-a", "loop-a/x",
        "self", "dangling", "dangling-rel", "etc/os-release/x", "no/such", "", "/", "..", "../../etc/abs", "lib", "bin/dev-link",
    ];

    private static (string Source, string Image) Fixture()
    {
        lock (Gate)
        {
            string source = Path.Combine(Ext4Fixtures.Dir, "lookup-tree-v1");
            if (!Directory.Exists(source))
            {
                string tmp = source + ".tmp";
                if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
                Directory.CreateDirectory(Path.Combine(tmp, "etc"));
                Directory.CreateDirectory(Path.Combine(tmp, "usr", "bin"));
                Directory.CreateDirectory(Path.Combine(tmp, "usr", "lib"));
                File.WriteAllText(Path.Combine(tmp, "etc", "os-release"), "ID=lookup-test\n");
                File.WriteAllText(Path.Combine(tmp, "usr", "lib", "os-release"), "ID=usr-lib\n");
                Link(tmp, "etc/abs", "/etc/os-release");            // absolute: starts again at the tree's root
                Link(tmp, "etc/rel", "os-release");
                Link(tmp, "bin", "usr/bin");
                Link(tmp, "lib", "usr/lib");
                Link(tmp, "usr/bin/up", "../../etc/os-release");    // a '..' chain
                Link(tmp, "usr/bin/up-deep", "../../usr/bin/../../etc/abs");
                Link(tmp, "usr/bin/over-root", "../../../../../etc/os-release"); // '..' stops at the root
                Link(tmp, "usr/bin/dev-link", "/usr/lib/../bin/up");
                Link(tmp, "chain1", "chain2");
                Link(tmp, "chain2", "/etc/abs");
                Link(tmp, "dirlink", "/etc");
                Link(tmp, "loop-a", "loop-b");                      // a loop
                Link(tmp, "loop-b", "/loop-a");
                Link(tmp, "self", "self");
                Link(tmp, "dangling", "/nowhere");
                Link(tmp, "dangling-rel", "etc/none");
                Directory.Move(tmp, source);
            }
            string image = Ext4Fixtures.Image("lookup", source, ["-t", "ext4", "-I", "256"], "8M");
            return (source, image);
        }
    }

    private static void Link(string root, string path, string target) =>
        File.CreateSymbolicLink(Path.Combine(root, path), target);

    [SkippableTheory]
    [MemberData(nameof(Paths))]
    public void ResolvePathMatchesTheKernelInAChroot(string path)
    {
        TestEnvironment.RequireTool("mke2fs");
        var (source, image) = Fixture();
        var kernel = KernelResolve(source, path);
        using var device = BlockSource.OpenFile(image);
        using var fs = Ext4FileSystem.Open(device);
        if (kernel.Errno == ELOOP)
        {
            var e = Assert.Throws<ImageFormatException>(() => fs.ResolvePath(path));
            Assert.Equal(ImageErrorKind.Loop, e.Kind);
            Assert.Throws<ImageFormatException>(() => fs.GetEntry(path, followSymlinks: true));
            return;
        }
        if (kernel.Errno != 0)
        {
            Assert.True(kernel.Errno is ENOENT or ENOTDIR, $"unexpected errno {kernel.Errno} for '{path}'");
            Assert.Null(fs.ResolvePath(path));
            Assert.Null(fs.GetEntry(path, followSymlinks: true));
            return;
        }
        Assert.Equal(kernel.Resolved, fs.ResolvePath(path));
        var entry = fs.GetEntry(path, followSymlinks: true);
        Assert.NotNull(entry);
        Assert.Equal(kernel.Resolved, entry.Path);
        Assert.NotEqual(EntryType.SymbolicLink, entry.Type);
    }

    [SkippableFact]
    public async Task OpenFileFollowsLinksAndReadsTheTarget()
    {
        TestEnvironment.RequireTool("mke2fs");
        var (source, image) = Fixture();
        using var device = BlockSource.OpenFile(image);
        using var fs = Ext4FileSystem.Open(device);
        byte[] expected = await File.ReadAllBytesAsync(Path.Combine(source, "etc", "os-release"));
        foreach (var path in new[] { "etc/os-release", "etc/abs", "bin/up", "bin/up-deep", "chain1", "dirlink/os-release" })
        {
            using var content = fs.OpenFile(path);
            var bytes = new byte[content.Length];
            await content.ReadExactlyAtAsync(0, bytes);
            Assert.Equal(expected, bytes);
        }
        Assert.Throws<FileNotFoundException>(() => fs.OpenFile("dangling"));
        Assert.Throws<FileNotFoundException>(() => fs.OpenFile("no/such"));
        Assert.Throws<IOException>(() => fs.OpenFile("dirlink"));
        Assert.Equal(ImageErrorKind.Loop, Assert.Throws<ImageFormatException>(() => fs.OpenFile("loop-a")).Kind);
    }

    [SkippableFact]
    public void GetEntryWithoutFollowingIsLstat()
    {
        TestEnvironment.RequireTool("mke2fs");
        var (_, image) = Fixture();
        using var device = BlockSource.OpenFile(image);
        using var fs = Ext4FileSystem.Open(device);
        var link = fs.GetEntry("/etc/abs");
        Assert.NotNull(link);
        Assert.Equal(EntryType.SymbolicLink, link.Type);
        Assert.Equal("/etc/os-release", link.LinkTarget);
        Assert.Equal("etc/abs", link.Path);
        var same = fs.GetEntry("etc/abs", followSymlinks: false);
        Assert.Equal((link.Path, link.Type, link.LinkTarget, link.InodeId), (same!.Path, same.Type, same.LinkTarget, same.InodeId));
        Assert.Null(fs.GetEntry("dirlink/os-release")); // a symlink in the middle is not followed
        Assert.Null(fs.GetEntry("etc/../etc/os-release"));
        var listing = fs.ListDirectory("/usr/bin").Select(e => e.Path).ToList();
        Assert.Equal(["usr/bin/dev-link", "usr/bin/over-root", "usr/bin/up", "usr/bin/up-deep"], listing);
    }

    private const int ENOENT = 2, ENOTDIR = 20, ELOOP = 40;

    /// <summary>What the kernel resolves <paramref name="path"/> to with <paramref name="root"/> as the root: a tree path or an errno.</summary>
    private static (string? Resolved, int Errno) KernelResolve(string root, string path)
    {
        Skip.IfNot(OperatingSystem.IsLinux(), "openat2 is Linux's");
        int dir = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        Assert.True(dir >= 0, $"open {root}: errno {Marshal.GetLastPInvokeError()}");
        try
        {
            var how = new OpenHow { Flags = O_PATH | O_CLOEXEC, Resolve = RESOLVE_IN_ROOT };
            // openat2 treats an absolute path as relative to the root under RESOLVE_IN_ROOT, as a chroot does.
            long fd = syscall(SYS_openat2, dir, path.Length == 0 ? "." : path, ref how, (nuint)Marshal.SizeOf<OpenHow>());
            if (fd < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                Skip.If(errno == 38, "the kernel has no openat2 (ENOSYS)");
                return (null, errno);
            }
            try
            {
                string target = new FileInfo($"/proc/self/fd/{fd}").LinkTarget!;
                string rootFull = Path.GetFullPath(root);
                if (target == rootFull) return ("", 0);
                Assert.StartsWith(rootFull + "/", target, StringComparison.Ordinal);
                return (target[(rootFull.Length + 1)..], 0);
            }
            finally
            {
                close((int)fd);
            }
        }
        finally
        {
            close(dir);
        }
    }

    private const long SYS_openat2 = 437; // the same number on every architecture (asm-generic)
    private const int O_PATH = 0x200000, O_DIRECTORY = 0x10000, O_CLOEXEC = 0x80000;
    private const ulong RESOLVE_IN_ROOT = 0x10;

    [StructLayout(LayoutKind.Sequential)]
    private struct OpenHow
    {
        public ulong Flags;
        public ulong Mode;
        public ulong Resolve;
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);

    // syscall(2) is variadic; with integer and pointer arguments only, the fixed-argument call is ABI-compatible on x86-64 and arm64 Linux.
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial long syscall(long number, int dirfd, string path, ref OpenHow how, nuint size);
}
