using RootfsForge.Sources.Flist;
using RootfsForge.Stores;
using RootfsForge.Tree;
using RootfsForge.NativeTests.Support;
using Xunit;
using static RootfsForge.NativeTests.Flist.FlistTestSupport;

namespace RootfsForge.NativeTests.Flist;

public class FlistReaderTests
{
    private static string Fixture(string name) => Path.Combine(TestEnvironment.DataDir, "rfs", name);

    [Theory]
    [InlineData("alpine-latest.fl", 527, 100, 92, 335, 97, "dir:///tmp/rfs-e2e-tests/store", 192)]
    [InlineData("hello-world-latest.fl", 15, 7, 7, 1, 2, "dir:///tmp/store0", 185)]
    [InlineData("redis-latest.fl", 1262, 146, 1047, 69, 1099, "dir:///tmp/store0", 421)]
    public void RfsFixtures_InfoAndWalk(string name, int inodes, int dirs, int files, int links, int blocks, string route,
        int startupSize)
    {
        using var source = FlistSource.Open(Fixture(name));
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
    public void RedisFixture_KnownRows()
    {
        using var source = FlistSource.Open(Fixture("redis-latest.fl"));
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
    public void RfsFixture_BlocksAreUnpublished_ReadFailsClearly()
    {
        using var source = FlistSource.Open(Fixture("hello-world-latest.fl"),
            [BlockStoreRoute.Parse($"dir://{TestEnvironment.NewTempDir("rff-empty")}")]);
        var file = source.Walk().First(e => e.Type == EntryType.RegularFile && e.Size > 0);
        using var content = file.OpenContent!();
        var e = Assert.Throws<BlockStoreException>(() => content.ReadExactlyAt(0, new byte[1]));
        Assert.Contains("missing", e.Message);
    }

    [Fact]
    public void TruncatedFl_IsImageFormatError()
    {
        var dir = TestEnvironment.NewTempDir("rff-fl");
        var fl = Path.Combine(dir, "t.fl");
        var bytes = File.ReadAllBytes(Fixture("redis-latest.fl"));
        File.WriteAllBytes(fl, bytes[..(bytes.Length / 2)]);
        var e = Assert.Throws<ImageFormatException>(() => FlistSource.Open(fl));
        Assert.Contains("truncated", e.Message);
        File.WriteAllBytes(fl, bytes[..50]);
        Assert.Throws<ImageFormatException>(() => FlistSource.Open(fl));
        File.WriteAllText(fl, string.Concat(Enumerable.Repeat("this is not a database ", 20)));
        Assert.Contains("not an SQLite", Assert.Throws<ImageFormatException>(() => FlistSource.Open(fl)).Message);
    }

    [Fact]
    public void CorruptedFl_IsImageFormatError()
    {
        var dir = TestEnvironment.NewTempDir("rff-fl");
        var fl = Path.Combine(dir, "c.fl");
        var bytes = File.ReadAllBytes(Fixture("redis-latest.fl"));
        // Garble the middle pages (b-tree pages of inode and block tables).
        for (int i = 8192; i < bytes.Length - 8192; i += 7) bytes[i] ^= 0x5A;
        File.WriteAllBytes(fl, bytes);
        var e = Assert.ThrowsAny<ImageFormatException>(() =>
        {
            using var s = FlistSource.Open(fl);
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
        using (var source = FlistSource.Open(wrong, [store]))
        {
            var text = source.Walk().Single(e => e.Path == "data/text.txt");
            using var c = text.OpenContent!();
            var e = Assert.Throws<ImageFormatException>(() => c.ReadExactlyAt(0, new byte[10]));
            Assert.Contains("does not decrypt", e.Message);
            var verify = await source.VerifyAsync();
            Assert.Single(verify.Problems);
        }

        // Missing block: delete one block (both layouts).
        var victim = Directory.GetFiles(storeDir).First();
        File.Delete(victim);
        File.Delete(Path.Combine(storeDir, Path.GetFileName(victim)[..2], Path.GetFileName(victim)));
        using (var source = FlistSource.Open(fl, [store]))
        {
            var verify = await source.VerifyAsync();
            Assert.Contains(verify.Problems, p => p.Contains("missing") && p.Contains(Path.GetFileName(victim)));
        }

        // Unreachable stores: zdb on a closed port, dir that does not exist.
        int port = FreePort();
        using (var source = FlistSource.Open(fl, [BlockStoreRoute.Parse($"zdb://user:pw@127.0.0.1:{port}")]))
        {
            var big = source.Walk().Single(e => e.Path == "data/big.bin");
            using var c = big.OpenContent!();
            var e = Assert.Throws<BlockStoreException>(() => c.ReadExactlyAt(0, new byte[10]));
            Assert.Contains($"127.0.0.1:{port}", e.Message);
            Assert.DoesNotContain("pw", e.Message.Replace("pwd", ""));
        }
        using (var source = FlistSource.Open(fl, [BlockStoreRoute.Parse($"dir://{dir}/nowhere")]))
        {
            var big = source.Walk().Single(e => e.Path == "data/big.bin");
            using var c = big.OpenContent!();
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
}
