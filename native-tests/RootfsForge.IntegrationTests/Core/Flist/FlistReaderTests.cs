using RootfsForge.Sources.Flist;
using RootfsForge.Stores;
using RootfsForge.Tree;
using RootfsForge.NativeTests.Support;
using Xunit;
using static RootfsForge.NativeTests.Flist.FlistTestSupport;

namespace RootfsForge.NativeTests.Flist;

public class FlistReaderTests
{
    internal static string Fixture(string name) => Path.Combine(TestEnvironment.DataDir, "rfs", name);

    /// <summary>
    /// A copy of an rfs fixture changed by SQL run through Python's sqlite3 module (another SQLite client than ours), the
    /// way a hostile or broken writer would leave it.
    /// </summary>
    internal static string Crafted(string fixture, params string[] statements)
    {
        var fl = Path.Combine(TestEnvironment.NewTempDir("rff-crafted"), fixture);
        File.Copy(Fixture(fixture), fl);
        const string script = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for statement in sys.argv[2:]:
    if db.execute(statement).rowcount < 1: sys.exit('no row changed: ' + statement)
db.commit()
""";
        TestEnvironment.RequireTool("python3");
        TestEnvironment.RunChecked("python3", ["-c", script, fl, .. statements]);
        return fl;
    }

    private static async Task<ImageFormatException> WalkFailsAsync(string fl)
    {
        await using var source = FlistSource.Open(fl);
        var e = Assert.ThrowsAny<ImageFormatException>(() => source.Walk().ToList());
        Assert.Equal(fl, e.ImagePath);
        return e;
    }

    [Theory]
    [InlineData("alpine-latest.fl", 527, 100, 92, 335, 97, "dir:///tmp/rfs-e2e-tests/store", 192)]
    [InlineData("hello-world-latest.fl", 15, 7, 7, 1, 2, "dir:///tmp/store0", 185)]
    [InlineData("redis-latest.fl", 1262, 146, 1047, 69, 1099, "dir:///tmp/store0", 421)]
    public async Task RfsFixtures_InfoAndWalk(string name, int inodes, int dirs, int files, int links, int blocks, string route,
        int startupSize)
    {
        await using var source = FlistSource.Open(Fixture(name));
        var info = source.GetInfo();
        Assert.Equal((inodes, dirs, files, links, 0, (long)blocks), (info.Inodes, info.Directories, info.Files, info.Symlinks, info.Other, info.BlockRows));
        Assert.Equal([(0, 255, route)], info.Routes.Select(r => ((int)r.Start, (int)r.End, r.Url)));
        Assert.Empty(info.Tags);

        var entries = source.Walk().ToList();
        Assert.Equal(inodes, entries.Count);
        Assert.Equal("", entries[0].Path);
        Assert.Equal(EntryType.Directory, entries[0].Type);
        var startup = Assert.Single(entries, e => e.Path == ".startup.toml");
        Assert.Equal(startupSize, startup.Size);
        // Walk order: each parent before its children, siblings sorted by name bytes.
        var seen = new HashSet<string> { "" };
        for (int i = 1; i < entries.Count; i++)
        {
            string p = entries[i].Path;
            Assert.Contains(p.Contains('/') ? p[..p.LastIndexOf('/')] : "", seen);
            seen.Add(p);
        }
        Assert.All(entries.Where(e => e.Type == EntryType.SymbolicLink), e => Assert.Equal(e.LinkTarget!.Length, e.Size));
        Assert.Equal(links, entries.Count(e => e.Type == EntryType.SymbolicLink));
    }

    [Fact]
    public async Task RedisFixture_KnownRows()
    {
        await using var source = FlistSource.Open(Fixture("redis-latest.fl"));
        var entries = source.Walk().ToDictionary(e => e.Path);
        Assert.Equal(128, entries["etc/shells"].Size);
        Assert.Equal(1000u, entries["etc/shells"].Uid);
        // Inode 1261 (Boolean.pm) has no block row: listed, reported, unreadable.
        var boolean = entries.Values.Single(e => e.InodeId == 1261);
        Assert.EndsWith("Boolean.pm", boolean.Path);
        Assert.Contains(source.Warnings, w => w.Contains("Boolean.pm"));
        Assert.Throws<ImageFormatException>(() => boolean.OpenContent!());
    }

    [Fact]
    public async Task RfsFixture_BlocksAreUnpublished_ReadFailsClearly()
    {
        await using var source = FlistSource.Open(Fixture("hello-world-latest.fl"),
            [BlockStoreRoute.Parse($"dir://{TestEnvironment.NewTempDir("rff-empty")}")]);
        var file = source.Walk().First(e => e.Type == EntryType.RegularFile && e.Size > 0);
        using var content = file.OpenContent!();
        // The flist names blocks the store does not hold: input that refers to what is not there (exit 3).
        var e = Assert.Throws<ImageFormatException>(() => content.ReadExactlyAt(0, new byte[1]));
        Assert.Equal(ImageErrorKind.MissingReference, e.Kind);
        Assert.StartsWith("block ", e.Structure);
    }

    [Fact]
    public void TruncatedFl_IsImageFormatError()
    {
        var dir = TestEnvironment.NewTempDir("rff-fl");
        var fl = Path.Combine(dir, "t.fl");
        var bytes = File.ReadAllBytes(Fixture("redis-latest.fl"));
        File.WriteAllBytes(fl, bytes[..(bytes.Length / 2)]);
        var e = Assert.Throws<ImageFormatException>(() => FlistSource.Open(fl));
        Assert.Equal((ImageErrorKind.Truncated, "SQLite header", 28L), (e.Kind, e.Structure, e.Offset));
        File.WriteAllBytes(fl, bytes[..50]);
        e = Assert.Throws<ImageFormatException>(() => FlistSource.Open(fl));
        Assert.Equal((ImageErrorKind.Truncated, "SQLite header", 0L), (e.Kind, e.Structure, e.Offset));
        File.WriteAllText(fl, string.Concat(Enumerable.Repeat("this is not a database ", 20)));
        e = Assert.Throws<ImageFormatException>(() => FlistSource.Open(fl));
        Assert.Equal((ImageErrorKind.NotAnImage, "SQLite header", 0L), (e.Kind, e.Structure, e.Offset));
        Assert.Equal(fl, e.ImagePath);
    }

    [Fact]
    public async Task CorruptedFl_IsImageFormatError()
    {
        var dir = TestEnvironment.NewTempDir("rff-fl");
        var fl = Path.Combine(dir, "c.fl");
        var bytes = File.ReadAllBytes(Fixture("redis-latest.fl"));
        // Garble the middle pages (b-tree pages of inode and block tables).
        for (int i = 8192; i < bytes.Length - 8192; i += 7) bytes[i] ^= 0x5A;
        File.WriteAllBytes(fl, bytes);
        var e = await Assert.ThrowsAnyAsync<ImageFormatException>(async () =>
        {
            await using var s = FlistSource.Open(fl);
            _ = s.Walk().ToList();
        });
        Assert.False(string.IsNullOrWhiteSpace(e.Message));
    }

    [Fact]
    public async Task MissingBlock_WrongKey_UnreachableStore_AreClearErrors()
    {
        var dir = TestEnvironment.NewTempDir("rff-fl");
        var fl = Path.Combine(dir, "out.fl");
        var storeDir = Path.Combine(dir, "store");
        var store = BlockStoreRoute.Parse($"dir://{storeDir}");
        Pack(fl, TreeFixtures.SampleTree(), store);

        // Wrong key: flip one key byte of one row in a copy of the .fl.
        var wrong = Path.Combine(dir, "wrong.fl");
        File.Copy(fl, wrong);
        using (var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={wrong};Pooling=False"))
        {
            db.Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = "update block set key = zeroblob(32) where rowid = (select min(rowid) from block where ino = (select ino from inode where name = 'text.txt'))";
            Assert.Equal(1, cmd.ExecuteNonQuery());
        }
        await using (var source = FlistSource.Open(wrong, [store]))
        {
            var text = source.Walk().Single(e => e.Path == "data/text.txt");
            using var c = text.OpenContent!();
            var e = Assert.Throws<ImageFormatException>(() => c.ReadExactlyAt(0, new byte[10]));
            Assert.Equal(ImageErrorKind.ChecksumMismatch, e.Kind);
            var verify = await source.VerifyAsync();
            Assert.Single(verify.Problems);
        }

        // Missing block: delete one block (both layouts).
        var victim = Directory.GetFiles(storeDir).First();
        File.Delete(victim);
        File.Delete(Path.Combine(storeDir, Path.GetFileName(victim)[..2], Path.GetFileName(victim)));
        await using (var source = FlistSource.Open(fl, [store]))
        {
            var verify = await source.VerifyAsync();
            Assert.Contains(verify.Problems, p => p.Contains("missing") && p.Contains(Path.GetFileName(victim)));
        }

        // Unreachable stores: zdb on a closed port, dir that does not exist.
        int port = FreePort();
        await using (var source = FlistSource.Open(fl, [BlockStoreRoute.Parse($"zdb://user:pw@127.0.0.1:{port}")]))
        {
            var big = source.Walk().Single(e => e.Path == "data/big.bin");
            using var c = big.OpenContent!();
            var e = Assert.Throws<BlockStoreException>(() => c.ReadExactlyAt(0, new byte[10]));
            Assert.Contains($"127.0.0.1:{port}", e.Message);
            Assert.DoesNotContain("pw", e.Message.Replace("pwd", ""));
        }
        await using (var source = FlistSource.Open(fl, [BlockStoreRoute.Parse($"dir://{dir}/nowhere")]))
        {
            var big = source.Walk().Single(e => e.Path == "data/big.bin");
            using var c = big.OpenContent!();
            // A dir:// store whose folder does not exist cannot be read at all, like an unreachable server.
            Assert.Throws<BlockStoreException>(() => c.ReadExactlyAt(0, new byte[10]));
        }
    }

    [Fact]
    public void FailedBuild_LeavesNoPartialOutput()
    {
        var dir = TestEnvironment.NewTempDir("rff-fl");
        int port = FreePort();
        var fl = Path.Combine(dir, "out.fl");
        Assert.ThrowsAny<IOException>(() => Pack(fl, TreeFixtures.SampleTree(), BlockStoreRoute.Parse($"zdb://127.0.0.1:{port}")));
        Assert.Empty(Directory.GetFileSystemEntries(dir));
    }

    /// <summary>
    /// docs/flist-format.md §2.8: "dev" (ino 11) made a child of its own child "shm" (ino 13): dev, console, shm and
    /// pts can no longer be reached from the root. Before, the walk silently gave the rest of the tree; now it fails
    /// before the first entry.
    /// </summary>
    [SkippableFact]
    public async Task ParentCycle_IsUnreachable_WalkFails_InfoCounts_VerifyReports()
    {
        var fl = Crafted("hello-world-latest.fl", "update inode set parent = 13 where ino = 11");
        var e = await WalkFailsAsync(fl);
        Assert.Equal((ImageErrorKind.InvalidName, "inode 11"), (e.Kind, e.Structure));
        await using var source = FlistSource.Open(fl);
        var info = source.GetInfo();
        Assert.Equal((15, 4), (info.Inodes, info.Unreachable));
        var verify = await source.VerifyAsync();
        Assert.False(verify.Ok);
        foreach (var ino in new[] { 11, 12, 13, 14 }) Assert.Contains(verify.Problems, p => p.StartsWith($"inode {ino}: ", StringComparison.Ordinal));
        Assert.Contains(verify.Problems, p => p.StartsWith("4 of 15 inodes are not reachable", StringComparison.Ordinal));
    }

    [SkippableTheory]
    [InlineData("update inode set parent = 99 where ino = 6", ImageErrorKind.MissingReference, "inode 6", 1)]
    [InlineData("update inode set parent = 3 where ino = 6", ImageErrorKind.Corrupt, "inode 6", 1)]      // 3 is a file
    [InlineData("update inode set parent = 2 where ino = 1", ImageErrorKind.Corrupt, "inode table", 15)] // no root
    [InlineData("update inode set mode = 33188 where ino = 1", ImageErrorKind.Corrupt, "inode 1", 15)]   // root is a file
    [InlineData("update inode set parent = 0 where ino = 5", ImageErrorKind.Corrupt, "inode 5", 5)]      // a second root
    public async Task RowsOutsideTheTree_AreNamedErrors(string statement, ImageErrorKind kind, string structure, int unreachable)
    {
        var fl = Crafted("hello-world-latest.fl", statement);
        var e = await WalkFailsAsync(fl);
        Assert.Equal((kind, structure), (e.Kind, e.Structure));
        await using var source = FlistSource.Open(fl);
        Assert.Equal(unreachable, source.GetInfo().Unreachable);
    }

    /// <summary>
    /// Numbers that cannot be used as read are refused at open, naming the row (docs/flist-format.md §2.8).
    /// </summary>
    [SkippableTheory]
    [InlineData("update inode set size = -1 where ino = 3", "inode 3")]
    [InlineData("update inode set size = 'big' where ino = 3", "inode 3")]
    [InlineData("update inode set mtime = 1.5 where ino = 2", "inode 2")]
    [InlineData("update inode set mode = 61440 where ino = 4", "inode 4")]    // 0170000: no file type
    [InlineData("update inode set uid = 4294967296 where ino = 4", "inode 4")]
    [InlineData("update inode set name = x'6869' where ino = 4", "inode 4")] // a BLOB name
    [InlineData("update inode set ino = -5 where ino = 4", "inode -5")]
    [InlineData("update inode set parent = -1 where ino = 4", "inode 4")]
    [InlineData("update route set start = 256", "route")]
    [InlineData("update route set url = NULL", "route")]
    public void OutOfRangeNumbers_AreCorrupt(string statement, string structure)
    {
        var fl = Crafted("hello-world-latest.fl", statement);
        var e = Assert.Throws<ImageFormatException>(() => FlistSource.Open(fl));
        Assert.Equal((ImageErrorKind.Corrupt, structure), (e.Kind, e.Structure));
        Assert.Equal(fl, e.ImagePath);
    }

    /// <summary>
    /// docs/flist-format.md §2.8: extreme values that are valid numbers are carried, shown safely, and never turned
    /// into negative counts: a size of 2^63 − 1 (its block count, 2^44, computed without overflow), times at both ends
    /// of 64 bits.
    /// </summary>
    [SkippableFact]
    public async Task ExtremeSizesAndTimes_AreCarriedAndCountedSafely()
    {
        var fl = Crafted("hello-world-latest.fl",
            "update inode set size = 9223372036854775807 where ino = 3",
            "update inode set mtime = 9223372036854775807, ctime = -9223372036854775808 where ino = 2",
            "update inode set mtime = -9223372036854775808 where ino = 5");
        await using var source = FlistSource.Open(fl);
        var info = source.GetInfo();
        Assert.Equal((1L, 185L), (info.FilesWithWrongBlockCount, info.ContentBytes)); // only .startup.toml is readable
        var entries = source.Walk().ToDictionary(e => e.Path);
        Assert.Equal(long.MaxValue, entries["hello"].Size);
        Assert.Contains(source.Warnings, w => w == "/hello: file of 9223372036854775807 bytes has 1 block rows, expected 17592186044416");
        var e = Assert.Throws<ImageFormatException>(() => entries["hello"].OpenContent!());
        Assert.Equal((ImageErrorKind.MissingReference, "inode 3"), (e.Kind, e.Structure));
        Assert.Equal(new UnixTime(long.MaxValue, 0), entries[".startup.toml"].ModificationTime);
        Assert.Equal(new UnixTime(long.MinValue, 0), entries[".startup.toml"].ChangeTime);
        Assert.Equal(new UnixTime(long.MinValue, 0), entries["etc"].ModificationTime);
        Assert.Equal("9999-12-31T23:59:59.000000000Z", entries[".startup.toml"].ModificationTime.ToString());
    }

    /// <summary>Names are compared, checked and joined as the bytes stored: NUL, '/', duplicates are skipped with a warning.</summary>
    [SkippableFact]
    public async Task BadNames_AreSkippedWithEscapedWarnings()
    {
        var fl = Crafted("hello-world-latest.fl",
            "update inode set name = cast(x'736800796f75' as text) where ino = 13", // "sh\0you" under dev
            "update inode set name = 'a/b' where ino = 12",
            "update inode set name = 'hosts' where ino = 8",                         // a duplicate in etc
            "update inode set name = cast(x'6574630a1b5b33316d78' as text) where ino = 4"); // newline + escape sequence
        await using var source = FlistSource.Open(fl);
        var paths = source.Walk().Select(e => e.Path).ToList();
        Assert.DoesNotContain("dev/shm", paths);
        Assert.DoesNotContain(paths, p => p.Contains('\0') || p.Contains("a/b"));
        Assert.Single(paths, p => p == "etc/hosts");
        Assert.Contains("etc\n\u001b[31mx", paths);
        Assert.Contains(source.Warnings, w => w == "/dev: entry named 'sh\\x00you' is not a valid name; skipped");
        Assert.Contains(source.Warnings, w => w == "/dev: entry named 'a/b' is not a valid name; skipped");
        Assert.Contains(source.Warnings, w => w == "/etc/hosts: duplicate entry skipped");
        Assert.All(source.Warnings, w => Assert.DoesNotContain(w, c => char.IsControl(c)));
    }
}
