using RootfsForge.NativeTests.Ext4;
using RootfsForge.NativeTests.Support;
using RootfsForge.Sinks.Directories;
using RootfsForge.Ext4;
using RootfsForge.Tree;
using Xunit;
using Xunit.Abstractions;
using RootfsForge.Disks;

namespace RootfsForge.NativeTests.Sinks;

/// <summary>
/// Xattrs the target filesystem refuses: too large for the inode (ENOSPC, on a real loop-mounted ext4 without
/// ea_inode), above the VFS limit of 64 KiB (E2BIG) or in a namespace the target does not know (EOPNOTSUPP) are dropped
/// with a warning; other errors and a really full target still fail. The oracle is Python's getxattr of the result.
/// </summary>
public class DirectorySinkXattrTests(ITestOutputHelper output) : TempDirectories
{
    private const int AboveVfsLimit = 65536 + 1; // XATTR_SIZE_MAX + 1

    /// <summary>A fresh ext4 (4 KiB blocks, no ea_inode, no reserved blocks) loop-mounted read-write; unmounted on dispose.</summary>
    private sealed class MountedExt4 : IDisposable
    {
        public string Root { get; }

        public MountedExt4(string dir, int megabytes)
        {
            TestEnvironment.RequireRoot("loop-mounting a target ext4");
            TestEnvironment.RequireTool("mke2fs");
            TestEnvironment.RequireTool("mount");
            string image = Path.Combine(dir, "target.img");
            Root = Path.Combine(dir, "mnt");
            Directory.CreateDirectory(Root);
            TestEnvironment.RunChecked("mke2fs", ["-q", "-F", "-t", "ext4", "-O", "^ea_inode", "-m", "0", "-b", "4096", image, $"{megabytes}M"]);
            var (rc, _, err) = TestEnvironment.Run("mount", ["-o", "loop", image, Root]);
            Skip.If(rc != 0, $"cannot loop-mount an ext4 here: {err.Trim()}");
        }

        public void Dispose() => TestEnvironment.Run("umount", [Root]);
    }

    private void RequireUserXattrs(string dir)
    {
        TestEnvironment.RequireTool("setfattr");
        string probe = Path.Combine(dir, ".probe");
        File.WriteAllText(probe, "");
        var (rc, _, err) = TestEnvironment.Run("setfattr", ["-n", "user.probe", "-v", "1", probe]);
        File.Delete(probe);
        Skip.If(rc != 0, $"the temporary directory's filesystem does not take user xattrs: {err.Trim()}");
    }

    private static TreeEntry WithXattrs(TreeEntry e, params ExtendedAttribute[] xattrs) => new()
    {
        Path = e.Path, Type = e.Type, Permissions = e.Permissions, Uid = e.Uid, Gid = e.Gid,
        ModificationTime = e.ModificationTime, AccessTime = e.AccessTime, LinkTarget = e.LinkTarget,
        OpenContent = e.OpenContent, Size = e.Size, ExtendedAttributes = xattrs,
    };

    private static string[] XattrNames(string path)
    {
        var text = TestEnvironment.RunChecked("python3", ["-c",
            "import os,sys; print('\\n'.join(sorted(os.listxattr(sys.argv[1], follow_symlinks=False))))", path]);
        return text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    [SkippableFact]
    public async Task CorpusXattrsTooLargeForTheTargetAreDroppedWithAWarning()
    {
        TestEnvironment.RequireTool("python3");
        string image = Ext4CorpusTests.Decompressed("f_ea_inode", "image.gz");
        using var mount = new MountedExt4(Temp(), 32);
        using var device = BlockSource.OpenFile(image);
        using var fs = Ext4FileSystem.Open(device);
        var entries = fs.Walk().ToList();
        var target = Path.Combine(mount.Root, "out");
        await using var sink = new DirectorySink(target);
        foreach (var e in entries) sink.Add(e);
        sink.Complete();
        foreach (var w in sink.Statistics.Warnings) output.WriteLine("warning: " + w);

        // Every xattr of the walk is on disk with its value, or was dropped with a warning naming path, name and ENOSPC.
        long dropped = 0;
        var kept = new List<TreeEntry>();
        foreach (var e in entries)
        {
            string p = e.Path.Length == 0 ? target : Path.Combine(target, e.Path);
            var onDisk = XattrNames(p).ToHashSet(StringComparer.Ordinal);
            foreach (var x in e.ExtendedAttributes.Where(x => !onDisk.Contains(x.Name)))
            {
                dropped++;
                Assert.Contains(sink.Statistics.Warnings, w =>
                    w.Contains($"'{e.Path}'") && w.Contains(x.Name) && w.Contains("errno 28") && w.Contains("No space left on device"));
            }
            kept.Add(WithXattrs(e, e.ExtendedAttributes.Where(x => onDisk.Contains(x.Name)).ToArray()));
        }
        // The image has 4096-byte values (debugfs ea_list), which cannot fit beside the xattr header in a 4 KiB block.
        Assert.True(dropped > 0, "nothing was dropped: the test did not exercise ENOSPC");
        Assert.Equal(dropped, sink.Statistics.DroppedAttributes);
        // Everything else (including the kept xattrs' values) is as the walk says.
        TreeDump.AssertSame(TreeDump.OfEntries(kept).Order(StringComparer.Ordinal).ToArray(),
            TreeDump.OfDirectory(target).Order(StringComparer.Ordinal).ToArray());
    }

    [SkippableFact]
    public async Task OversizedAndUnsupportedXattrsAreDroppedAndSecurityOnesAlwaysWarned()
    {
        TestEnvironment.RequireTool("python3");
        var parent = Temp();
        RequireUserXattrs(parent);
        var big = new byte[AboveVfsLimit];
        var tree = new List<TreeEntry> { SampleTrees.Dir("") };
        tree.Add(WithXattrs(SampleTrees.File("a-unknown-namespace", [4]), new ExtendedAttribute("bogus.name", [1])));
        for (int i = 0; i < 12; i++)
            tree.Add(WithXattrs(SampleTrees.File($"f{i:D2}", [1, 2, 3]), new ExtendedAttribute("user.big", big),
                new ExtendedAttribute("user.small", [7])));
        tree.Add(WithXattrs(SampleTrees.File("h-security", [5]), new ExtendedAttribute("security.big", big)));
        tree.Add(SampleTrees.File("z-after", [6]));

        var target = Path.Combine(parent, "out");
        await using var sink = new DirectorySink(target);
        foreach (var e in tree) sink.Add(e);
        sink.Complete();
        var warnings = sink.Statistics.Warnings;
        foreach (var w in warnings) output.WriteLine("warning: " + w);

        Assert.Equal(14, sink.Statistics.DroppedAttributes);
        // The first ten ordinary drops are named one by one, the rest summed up; EOPNOTSUPP is errno 95, E2BIG 7.
        Assert.Contains(warnings, w => w.Contains("'a-unknown-namespace'") && w.Contains("bogus.name") && w.Contains("errno 95"));
        Assert.Equal(9, warnings.Count(w => w.Contains("user.big") && w.Contains("errno 7")));
        Assert.Contains(warnings, w => w.Contains("'f00'") && w.Contains($"user.big ({AboveVfsLimit} bytes)"));
        Assert.Contains(warnings, w => w.StartsWith("3 more xattrs not restored") && w.Contains("14 in total"));
        // Security-relevant drops get their own warning even after the first ten.
        Assert.Contains(warnings, w => w.Contains("'h-security'") && w.Contains("security.big") && w.Contains("errno 7"));
        foreach (var (path, names) in new[] { ("f00", new[] { "user.small" }), ("f11", ["user.small"]), ("a-unknown-namespace", []), ("h-security", []) })
            Assert.Equal(names, XattrNames(Path.Combine(target, path)).Where(n => !n.StartsWith("security.selinux", StringComparison.Ordinal)));
        Assert.Equal([6], File.ReadAllBytes(Path.Combine(target, "z-after")));
    }

    [SkippableFact]
    public async Task OtherXattrErrorsStillFailAndLeaveNoOutput()
    {
        var parent = Temp();
        RequireUserXattrs(parent);
        var target = Path.Combine(parent, "out");
        // A name longer than XATTR_NAME_MAX (255): ERANGE, which says nothing about what the target can hold.
        var ex = await Assert.ThrowsAsync<IOException>(async () =>
        {
            await using var sink = new DirectorySink(target);
            sink.Add(SampleTrees.Dir(""));
            sink.Add(WithXattrs(SampleTrees.File("f", [1]), new ExtendedAttribute("user." + new string('n', 300), [1])));
            sink.Complete();
        });
        output.WriteLine(ex.Message);
        Assert.Contains("setxattr user.nnn", ex.Message);
        Assert.Equal(34, ex.HResult); // the errno (Posix.Error)
        Assert.Empty(Directory.GetFileSystemEntries(parent));
    }

    [SkippableFact]
    public async Task MalformedAclFailsWhenPrivileged()
    {
        TestEnvironment.RequireRoot("the privileged mode, where EINVAL from setxattr is not a lack of privilege");
        var parent = Temp();
        var target = Path.Combine(parent, "out");
        // A malformed ACL is EINVAL and fails instead of silently losing an ACL.
        var ex = await Assert.ThrowsAsync<IOException>(async () =>
        {
            await using var sink = new DirectorySink(target, new DirectorySinkOptions { Privileged = true });
            sink.Add(SampleTrees.Dir(""));
            sink.Add(WithXattrs(SampleTrees.File("f", [1]), new ExtendedAttribute("system.posix_acl_access", [2, 0, 0])));
            sink.Complete();
        });
        output.WriteLine(ex.Message);
        Assert.Contains("system.posix_acl_access", ex.Message);
        Assert.Equal(22, ex.HResult); // the errno (Posix.Error)
        Assert.Empty(Directory.GetFileSystemEntries(parent));
    }

    [SkippableFact]
    public async Task EnospcOnAFullTargetFails()
    {
        var dir = Temp();
        using var mount = new MountedExt4(dir, 8);
        var target = Path.Combine(mount.Root, "out");
        Directory.CreateDirectory(target);
        // Fill the filesystem: no block left for an external xattr block.
        var (rc, _, err) = TestEnvironment.Run("dd", ["if=/dev/zero", $"of={Path.Combine(mount.Root, "fill")}", "bs=4k"]);
        Assert.Contains("No space left on device", err);
        output.WriteLine($"dd exit {rc}: {err.Trim()}");
        var ex = await Assert.ThrowsAsync<IOException>(async () =>
        {
            await using var sink = new DirectorySink(target);
            sink.Add(SampleTrees.Dir(""));
            // 1000 bytes do not fit in the inode's own xattr space (256-byte inodes), so they need a block.
            sink.Add(WithXattrs(SampleTrees.File("f", []), new ExtendedAttribute("user.needs-a-block", new byte[1000])));
            sink.Complete();
        });
        output.WriteLine(ex.Message);
        Assert.Contains("user.needs-a-block", ex.Message);
        Assert.Equal(28, ex.HResult); // the errno (Posix.Error)
    }
}
