using RootfsForge.NativeTests.Support;
using RootfsForge.Sinks.Tar;
using RootfsForge.Tar;
using RootfsForge.Sources.Directories;
using RootfsForge.Tree;
using Xunit;
using RootfsForge.Disks;

namespace RootfsForge.NativeTests.Sinks;

public class SourceTests : TempDirectories
{
    /// <summary>A real directory with what GNU tar and the sources must carry; returns its path.</summary>
    internal static string MakeRealDirectory(bool withDevices)
    {
        var root = TestEnvironment.NewTempDir("rff-src");
        var script = """
set -e
cd "$1"
mkdir -p etc/deep/er usr/bin empty
printf 'root:x:0:0\n' > etc/passwd
printf 'hello' > usr/bin/zz-original
ln usr/bin/zz-original usr/bin/aa-link           # the link name sorts first: the source must re-point it
ln usr/bin/zz-original etc/deep/er/third
ln -s ../etc/passwd usr/bin/rel-link
ln -s /nonexistent/abs usr/bin/abs-link
truncate -s 64M sparse.img
printf 'middle' | dd of=sparse.img bs=1 seek=33554432 conv=notrunc status=none
printf 'start' | dd of=sparse.img bs=1 conv=notrunc status=none
truncate -s 1M holes-only.img
mkfifo fifo
chmod 4755 usr/bin/zz-original
chmod 1777 empty
setfattr -n user.comment -v 'a value' etc/passwd
setfattr -n user.bin -v 0x00ff0a etc/passwd
printf 'x' > "$(printf 'name-\377\376')"
touch -h -d '2001-02-03 04:05:06.123456789' usr/bin/rel-link
touch -d '1960-05-06 07:08:09.5' etc/passwd
touch -d '2300-01-01 00:00:00.25' usr/bin/zz-original
""";
        if (withDevices) script += "\nmknod chr c 4093 0\nmknod blk b 0 1023997\nchown 1234:5678 chr\n";
        TestEnvironment.RunChecked("bash", ["-c", script, "bash", root]);
        return root;
    }

    [SkippableFact]
    public void DirectorySourceMatchesPythonLstatView()
    {
        TestEnvironment.RequireTool("setfattr");
        var dir = Track(MakeRealDirectory(withDevices: TestEnvironment.IsRoot));
        var source = new DirectorySource(dir);
        var walked = source.Walk().ToList();
        TreeDump.AssertSame(TreeDump.OfDirectory(dir), TreeDump.OfEntries(walked));
        Assert.Empty(source.Warnings);
        // Holes found with SEEK_DATA: the 64 MiB file holds only a few KiB of data.
        var sparse = walked.Single(e => e.Path == "sparse.img");
        using var c = sparse.OpenContent!();
        var segs = c.GetDataSegments();
        Assert.True(segs.Sum(s => s.Length) < 1 << 20, $"data segments cover {segs.Sum(s => s.Length)} bytes");
        Assert.Contains(segs, s => s.Offset <= 33554432 && s.End >= 33554438);
        // Hard links point at the first name in walk order ("etc/..." sorts before "usr/...").
        Assert.Equal(EntryType.RegularFile, walked.Single(e => e.Path == "etc/deep/er/third").Type);
        Assert.Equal("etc/deep/er/third", walked.Single(e => e.Path == "usr/bin/aa-link").LinkTarget);
        Assert.Equal("etc/deep/er/third", walked.Single(e => e.Path == "usr/bin/zz-original").LinkTarget);
    }

    /// <summary>
    /// A tree with hard-linked files carrying xattrs, walked two independent ways into the same deterministic tar: the
    /// directory itself (DirectorySource) and an ext4 image mke2fs -d made from it (the ext4 reader). Python's tarfile
    /// reads both tars; every member, hard links included, must carry the same SCHILY.xattr records, and those of each
    /// hard link must be the xattrs Python's getxattr reads from that very path (the kernel shares them by inode).
    /// </summary>
    [SkippableFact]
    public async Task HardLinksKeepTheirXattrsLikeTheExt4Path()
    {
        TestEnvironment.RequireTool("setfattr");
        TestEnvironment.RequireTool("mke2fs");
        TestEnvironment.RequireTool("python3");
        var dir = Temp("rff-hl");
        var script = """
set -e
cd "$1"
mkdir a b
printf 'one' > a/first
setfattr -n user.tag -v alpha a/first
setfattr -n user.bin -v 0x00ff0a a/first
ln a/first b/second
ln a/first z-third
printf 'two' > plain
setfattr -n user.x -v 1 plain
mkfifo a/pipe
setfattr -n user.ignored -v 1 a 2>/dev/null || true
ln a/pipe b/pipe-link
find . -exec touch -h -d '2020-01-02 03:04:05' {} +
""";
        TestEnvironment.RunChecked("bash", ["-c", script, "bash", dir]);
        var imageDir = Temp("rff-hl-img");
        var image = Path.Combine(imageDir, "fs.img");
        TestEnvironment.RunChecked("mke2fs", ["-q", "-F", "-t", "ext4", "-I", "256", "-d", dir, image, "8M"]);

        var fromDirectory = Path.Combine(imageDir, "dir.tar");
        var source = new DirectorySource(dir);
        await using (var sink = TarSink.CreateFile(fromDirectory)) await TreeCopy.RunAsync(source, sink);
        Assert.Empty(source.Warnings);
        var fromExt4 = Path.Combine(imageDir, "ext4.tar");
        using (var device = BlockSource.OpenFile(image))
        using (var fs = RootfsForge.Ext4.Ext4FileSystem.Open(device))
        await using (var sink = TarSink.CreateFile(fromExt4))
            await TreeCopy.RunAsync(fs, sink);

        const string list = """
import sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    for m in t:
        if m.name in ('.', './lost+found') or m.name.startswith('./lost+found/'): continue
        x = ','.join(f"{k}={v.encode('utf-8', 'surrogateescape').hex()}" for k, v in sorted(m.pax_headers.items()) if k.startswith('SCHILY.xattr.'))
        print(m.name, m.type.decode(), m.linkname, oct(m.mode), m.uid, m.gid, int(m.mtime), m.size, x or '-')
""";
        string dirListing = TestEnvironment.RunChecked("python3", ["-c", list, fromDirectory]);
        string ext4Listing = TestEnvironment.RunChecked("python3", ["-c", list, fromExt4]);
        Assert.Equal(ext4Listing, dirListing);

        // Each hard link member carries the xattrs the kernel reports for its own path.
        const string check = """
import os, sys, tarfile
root = sys.argv[2]
links = 0
with tarfile.open(sys.argv[1]) as t:
    for m in t:
        if not m.islnk(): continue
        links += 1
        p = os.path.join(root, m.name)
        want = {n: os.getxattr(p, n, follow_symlinks=False) for n in os.listxattr(p, follow_symlinks=False) if n.startswith('user.')}
        got = {k[len('SCHILY.xattr.'):]: v.encode('utf-8', 'surrogateescape') for k, v in m.pax_headers.items() if k.startswith('SCHILY.xattr.user.')}
        assert want == got, (m.name, want, got)
        assert want or m.name.endswith('pipe-link'), (m.name, 'has no xattrs: the test would prove nothing')
print(links)
""";
        Assert.Equal("3", TestEnvironment.RunChecked("python3", ["-c", check, fromDirectory, dir]).Trim());
    }

    /// <summary>
    /// Entries that change while the walk runs: the walk is lazy, so the test changes the directory between two entries.
    /// A symlink removed after its directory was listed, and a directory swapped for a symlink to a directory outside
    /// the tree, are skipped with a warning each; the outside directory is never read.
    /// </summary>
    [SkippableFact]
    public async Task EntriesChangedDuringTheWalkAreWarnedNotFollowed()
    {
        var dir = Temp("rff-race");
        var outside = Temp("rff-outside");
        File.WriteAllText(Path.Combine(outside, "secret"), "s");
        Directory.CreateDirectory(Path.Combine(dir, "d"));
        File.WriteAllText(Path.Combine(dir, "d", "a-file"), "a");
        File.CreateSymbolicLink(Path.Combine(dir, "d", "b-link"), "a-file");
        Directory.CreateDirectory(Path.Combine(dir, "d", "c-dir"));
        File.WriteAllText(Path.Combine(dir, "d", "c-dir", "inside"), "i");
        var source = new DirectorySource(dir);
        var seen = new List<string>();
        await foreach (var e in source.WalkAsync())
        {
            seen.Add(e.Path);
            if (e.Path != "d/a-file") continue;
            // "d" has been listed: now remove the symlink and swap the directory for a symlink to the outside.
            File.Delete(Path.Combine(dir, "d", "b-link"));
            Directory.Move(Path.Combine(dir, "d", "c-dir"), Path.Combine(outside, "c-dir-moved"));
            File.CreateSymbolicLink(Path.Combine(dir, "d", "c-dir"), outside);
        }
        // d/c-dir is yielded as the directory it was when "d" was listed, but nothing below it is read.
        Assert.Equal(["", "d", "d/a-file", "d/c-dir"], seen);
        Assert.Contains(source.Warnings, w => w.StartsWith("/d/b-link: vanished", StringComparison.Ordinal));
        Assert.Contains(source.Warnings, w => w.StartsWith("/d/c-dir: vanished", StringComparison.Ordinal));
    }

    [SkippableFact]
    public void DirectorySourceDoesNotCrossMountPointsUnlessAsked()
    {
        TestEnvironment.RequireRoot("mounting a tmpfs");
        var dir = Temp("rff-mnt");
        var mnt = Path.Combine(dir, "mnt");
        Directory.CreateDirectory(mnt);
        File.WriteAllText(Path.Combine(dir, "outside"), "o");
        var (code, _, err) = TestEnvironment.Run("mount", ["-t", "tmpfs", "-o", "size=1m", "rff-test", mnt]);
        Skip.If(code != 0, $"cannot mount a tmpfs here: {err.Trim()}");
        try
        {
            File.WriteAllText(Path.Combine(mnt, "inside"), "i");
            var source = new DirectorySource(dir);
            var paths = source.Walk().Select(e => e.Path).ToList();
            Assert.Equal(["", "mnt", "outside"], paths);
            Assert.Contains(source.Warnings, w => w.StartsWith("/mnt: a mount point", StringComparison.Ordinal));
            var crossing = new DirectorySource(dir, new DirectorySourceOptions { CrossMountPoints = true });
            Assert.Equal(["", "mnt", "mnt/inside", "outside"], crossing.Walk().Select(e => e.Path).ToList());
        }
        finally
        {
            TestEnvironment.Run("umount", [mnt]);
        }
    }

    [SkippableFact]
    public void DirectorySourceAgreesWithFindPrintf()
    {
        TestEnvironment.RequireTool("find");
        TestEnvironment.RequireTool("setfattr");
        var dir = Track(MakeRealDirectory(withDevices: false));
        var find = TestEnvironment.RunChecked("find", [".", "-printf", "%P\t%y\t%m\t%U\t%G\t%s\n"], workingDirectory: dir)
            .Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Where(l => !l.StartsWith("name-", StringComparison.Ordinal)) // find prints non-UTF-8 bytes as '?'
            .Select(l => l.Split('\t') is var f && f[1] == "d" ? string.Join('\t', f[..5]) : l)
            .Order(StringComparer.Ordinal).ToArray();
        var ours = new DirectorySource(dir).Walk()
            .Where(e => !e.Path.StartsWith("name-", StringComparison.Ordinal))
            .Select(e =>
            {
                char t = e.Type switch
                {
                    EntryType.Directory => 'd', EntryType.SymbolicLink => 'l', EntryType.Fifo => 'p', _ => 'f',
                };
                string line = $"{e.Path}\t{t}\t{Convert.ToString(e.Permissions, 8)}\t{e.Uid}\t{e.Gid}";
                return t == 'd' ? line : line + "\t" + e.Size;
            })
            .Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(find, ours);
    }

    [SkippableFact]
    public async Task TarSinkThenTarArchiveSourceGivesTheSameTree()
    {
        var dir = Temp();
        var tree = SampleTrees.Full(withDevices: true);
        // A device number beyond ustar's 7 octal digits travels in SCHILY.devmajor/devminor records.
        tree.Insert(tree.FindIndex(e => e.Path == "dev-fifo"), SampleTrees.Node("dev-huge", EntryType.CharacterDevice, 3_000_000, 4_000_000));
        tree.Sort((a, b) => SampleTrees.ComparePaths(a.Path, b.Path));
        foreach (var compression in new[] { TarCompression.None, TarCompression.Gzip, TarCompression.Zstd })
        {
            var path = Path.Combine(dir, $"rt-{compression}.tar");
            await using (var sink = TarSink.CreateFile(path, new TarSinkOptions { Compression = compression }))
            {
                foreach (var e in tree) sink.Add(e);
                sink.Complete();
            }
            using var source = new TarArchiveSource(path);
            var read = source.Walk().ToList();
            Assert.Empty(source.Warnings);
            TreeDump.AssertSame(TreeDump.OfEntries(tree), TreeDump.OfEntries(read));
            // The sparse file keeps its holes.
            using var c = read.Single(e => e.Path == "s-sparse").OpenContent!();
            Assert.Equal([new DataSegment(8192, 4096), new DataSegment(1 << 20, 100)], c.GetDataSegments());
        }
    }

    [SkippableTheory]
    [InlineData("posix", "1.0")]
    [InlineData("posix", "0.1")]
    [InlineData("posix", "0.0")]
    [InlineData("gnu", null)]
    public void ReadsArchivesMadeByGnuTar(string format, string? sparseVersion)
    {
        TestEnvironment.RequireTool("tar");
        TestEnvironment.RequireTool("setfattr");
        var dir = Track(MakeRealDirectory(withDevices: TestEnvironment.IsRoot));
        var tarDir = Temp();
        var tar = Path.Combine(tarDir, "gnu.tar");
        var args = new List<string> { "--sparse", $"--format={format}", "-cf", tar, "-C", dir, "." };
        if (sparseVersion is not null) args.Insert(0, $"--sparse-version={sparseVersion}");
        if (format == "posix") args.InsertRange(0, ["--xattrs", "--xattrs-include=*"]);
        TestEnvironment.RunChecked("tar", args);
        using var source = new TarArchiveSource(tar);
        var fromTar = source.Walk().ToList();
        var fromDir = new DirectorySource(dir).Walk().ToList();
        if (format == "posix")
        {
            TreeDump.AssertSame(TreeDump.OfEntries(fromDir), TreeDump.OfEntries(fromTar));
        }
        else
        {
            // The GNU format has whole-second times and no xattrs.
            var truncated = fromDir.Select(e => new TreeEntry
            {
                Path = e.Path, Type = e.Type, Permissions = e.Permissions, Uid = e.Uid, Gid = e.Gid, Size = e.Size,
                ModificationTime = new UnixTime(e.ModificationTime.Seconds, 0), DeviceMajor = e.DeviceMajor,
                DeviceMinor = e.DeviceMinor, LinkTarget = e.LinkTarget, OpenContent = e.OpenContent,
            });
            TreeDump.AssertSame(TreeDump.OfEntries(truncated), TreeDump.OfEntries(fromTar));
        }
        using var c = fromTar.Single(e => e.Path == "sparse.img").OpenContent!();
        Assert.True(c.GetDataSegments().Sum(s => s.Length) < 1 << 20, "GNU tar's sparse map was not used");
    }

    [SkippableFact]
    public void ReadsCompressedArchivesFromStreams()
    {
        TestEnvironment.RequireTool("tar");
        TestEnvironment.RequireTool("setfattr");
        var dir = Track(MakeRealDirectory(withDevices: false));
        var tarDir = Temp();
        var tgz = Path.Combine(tarDir, "x.tar.gz");
        TestEnvironment.RunChecked("tar", ["--xattrs", "--format=posix", "-czf", tgz, "-C", dir, "."]);
        using var fromFile = new TarArchiveSource(tgz);
        using var fromStream = new TarArchiveSource(new MemoryStream(File.ReadAllBytes(tgz)));
        var expected = TreeDump.OfEntries(new DirectorySource(dir).Walk());
        TreeDump.AssertSame(expected, TreeDump.OfEntries(fromFile.Walk()));
        TreeDump.AssertSame(expected, TreeDump.OfEntries(fromStream.Walk()));
    }

    [Fact]
    public async Task ResolvesDotDotInsideTheRootAndRefusesCorruptHeaders()
    {
        var header = new byte[512];
        TarHeader.WriteUstar(header, "../evil"u8, 0x1A4, 0, 0, 0, 0, TarHeader.TypeFlags.RegularFile, default, 0, 0);
        using (var s = new TarArchiveSource(new MemoryStream([.. header, .. new byte[1024]])))
        {
            // Resolved lexically inside the root, as containerd and umoci unpack layer members, with a warning.
            var entries = await s.WalkAsync().ToListAsync();
            Assert.Equal(["", "evil"], entries.Select(e => e.Path));
            Assert.Contains(s.Warnings, w => w.Contains("'../evil'") && w.Contains("/evil"));
        }
        header[148] ^= 1; // break the checksum
        using (var s = new TarArchiveSource(new MemoryStream([.. header, .. new byte[1024]])))
        {
            var ex = await Assert.ThrowsAsync<ImageFormatException>(async () => await s.WalkAsync().ToListAsync());
            Assert.Equal((ImageErrorKind.ChecksumMismatch, "tar header", 0L), (ex.Kind, ex.Structure, ex.Offset));
            Assert.Equal("tar stream", ex.ImagePath);
        }
        // A size running past the end is reported, not read.
        TarHeader.WriteUstar(header, "big"u8, 0x1A4, 0, 0, 1 << 30, 0, TarHeader.TypeFlags.RegularFile, default, 0, 0);
        using (var s = new TarArchiveSource(new MemoryStream([.. header, .. new byte[1024]])))
        {
            var ex = await Assert.ThrowsAsync<ImageFormatException>(async () => await s.WalkAsync().ToListAsync());
            Assert.Equal((ImageErrorKind.Truncated, "tar entry", 0L), (ex.Kind, ex.Structure, ex.Offset));
        }
    }
}

public class TarArchiveSourceRobustnessTests
{
    /// <summary>
    /// Random byte flips and truncations of a real archive: every outcome is a tree or one ImageFormatException, never
    /// another exception or a hang (each case runs under a timeout).
    /// </summary>
    [Fact]
    public async Task CorruptArchivesFailCleanly()
    {
        var ms = new MemoryStream();
        await using (var sink = new RootfsForge.Sinks.Tar.TarSink(ms, leaveOpen: true))
        {
            foreach (var e in SampleTrees.Full()) sink.Add(e);
            sink.Complete();
        }
        var original = ms.ToArray();
        var rng = new Random(12345);
        int failures = 0, successes = 0;
        for (int round = 0; round < 400; round++)
        {
            var data = (byte[])original.Clone();
            if (round % 4 == 0)
            {
                data = data[..rng.Next(data.Length)];
            }
            else
            {
                for (int k = 0; k < 1 + round % 3; k++)
                {
                    // Mostly hit headers and pax records, where the parsing is.
                    int block = rng.Next(data.Length / 512);
                    data[block * 512 + rng.Next(512)] = (byte)rng.Next(256);
                }
                // Half the time, repair header checksums so the mutation reaches the field and pax parsers.
                if (round % 2 == 1) FixChecksums(data, original);
            }
            var task = Task.Run(() =>
            {
                using var source = new TarArchiveSource(new MemoryStream(data));
                foreach (var entry in source.Walk())
                {
                    if (entry.OpenContent is null) continue;
                    using var c = entry.OpenContent();
                    var buf = new byte[65536];
                    foreach (var s in c.GetDataSegments())
                        c.ReadExactlyAt(s.Offset, buf.AsSpan(0, (int)Math.Min(buf.Length, s.Length)));
                }
            });
            try
            {
                await task.WaitAsync(TimeSpan.FromSeconds(30));
                successes++;
            }
            catch (ImageFormatException)
            {
                failures++;
            }
        }
        Assert.True(failures > 0 && successes > 0, $"{failures} failures, {successes} successes");
    }

    private static void FixChecksums(byte[] data, byte[] original)
    {
        for (int at = 0; at + 512 <= original.Length; at += 512)
        {
            if (!original.AsSpan(at + 257, 6).SequenceEqual("ustar\0"u8)) continue;
            var block = data.AsSpan(at, 512);
            block.Slice(148, 8).Fill((byte)' ');
            int sum = 0;
            foreach (byte b in block) sum += b;
            System.Text.Encoding.ASCII.GetBytes(Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ", block.Slice(148, 8));
        }
    }
}
