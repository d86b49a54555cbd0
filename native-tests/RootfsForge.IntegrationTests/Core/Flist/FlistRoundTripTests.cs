using Microsoft.Data.Sqlite;
using RootfsForge.Sinks.Flist;
using RootfsForge.Sources.Flist;
using RootfsForge.Stores;
using RootfsForge.Tree;
using RootfsForge.NativeTests.Support;
using Xunit;
using static RootfsForge.NativeTests.Flist.FlistTestSupport;

namespace RootfsForge.NativeTests.Flist;

public class FlistRoundTripTests
{
    [Fact]
    public async Task DirStore_RoundTrip_ReproducesTree()
    {
        var dir = TestEnvironment.NewTempDir("rff-fl");
        var tree = TreeFixtures.SampleTree();
        var fl = Path.Combine(dir, "out.fl");
        var store = BlockStoreRoute.Parse($"dir://{dir}/store");
        var sink = Pack(fl, tree, store);

        Assert.Equal(TreeFixtures.Canonical(tree), await ReadBackAsync(fl, store));
        // Through the route table alone (dir:// is written into the file).
        Assert.Equal(TreeFixtures.Canonical(tree), await ReadBackAsync(fl));

        Assert.Equal(1, sink.Statistics.SkippedSockets);
        Assert.Equal(1, sink.Statistics.DroppedAttributes);
        Assert.Contains(sink.Statistics.Warnings, w => w.Contains("usr/bin/ping") && w.Contains("security.capability"));
        Assert.Equal(Directory.GetFiles(dir).Select(Path.GetFileName), ["out.fl"]);

        // Both store layouts, same bytes: on one filesystem the two-level name is a hard link to the flat file.
        var flat = Directory.GetFiles(Path.Combine(dir, "store")).Select(Path.GetFileName).ToList();
        Assert.NotEmpty(flat);
        foreach (var name in flat)
            Assert.Equal(File.ReadAllBytes(Path.Combine(dir, "store", name!)),
                File.ReadAllBytes(Path.Combine(dir, "store", name![..2], name)));
        var links = TestEnvironment.Run("stat", ["-c", "%h", .. flat.Select(n => Path.Combine(dir, "store", n!))]);
        Assert.Equal(0, links.ExitCode);
        Assert.All(links.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries), n => Assert.Equal("2", n));
        // The big file and its hard link share blocks; duplicate chunks stored once.
        long distinctBlocks = flat.Count;
        Assert.True(sink.Blocks.Blocks >= distinctBlocks);

        await using var source = FlistSource.Open(fl, [store]);
        var verify = await source.VerifyAsync();
        Assert.True(verify.Ok, string.Join("\n", verify.Problems));
        Assert.Equal(distinctBlocks, verify.DistinctBlocks);
    }

    [Fact]
    public void Encoding_FollowsSpecRules()
    {
        var dir = TestEnvironment.NewTempDir("rff-fl");
        var fl = Path.Combine(dir, "out.fl");
        Pack(fl, TreeFixtures.SampleTree(), BlockStoreRoute.Parse($"dir://{dir}/store"));
        using var db = new SqliteConnection($"Data Source={fl};Mode=ReadOnly;Pooling=False");
        db.Open();
        string Q(string sql) => string.Join(";", Rows(db, sql));

        Assert.Equal("1|0|/|4096|16877", Q("select ino, parent, name, size, mode from inode where parent = 0"));
        Assert.Equal("0", Q("select count(*) from inode where ino is null or parent is null or name is null or size is null or uid is null or gid is null or mode is null or rdev is null or ctime is null or mtime is null"));
        Assert.Equal("0", Q("select count(*) from inode where typeof(name) <> 'text'"));
        Assert.Equal("0", Q("select count(*) from inode where ctime <> mtime"));
        Assert.Equal($"{TreeFixtures.T0.Seconds}", Q("select distinct mtime from inode where name = 'big.bin'"));
        // rdev = makedev (docs/flist-format.md §2.4): 1:3 -> 0x103, 4093:1023997 in the split encoding.
        Assert.Equal($"{0x103}|{Convert.ToInt32("020660", 8)}", Q("select rdev, mode from inode where name = 'null'"));
        Assert.Equal($"{(1023997 & 0xFF) | (4093 << 8) | ((long)(1023997 & ~0xFF) << 12)}", Q("select rdev from inode where name = 'big'"));
        Assert.Equal($"{Convert.ToInt32("060660", 8)}", Q("select mode from inode where name = 'sda1'"));
        Assert.Equal($"{Convert.ToInt32("010644", 8)}", Q("select mode from inode where name = 'fifo'"));
        Assert.Equal("", Q("select ino from inode where name = 'sock'"));
        Assert.Equal($"{Convert.ToInt32("104755", 8)}", Q("select mode from inode where name = 'su'"));
        Assert.Equal($"{Convert.ToInt32("041777", 8)}", Q("select mode from inode where name = 'tmp'"));
        // Symlink: mode 120777, size = target length, target as BLOB in extra.
        Assert.Equal($"{Convert.ToInt32("120777", 8)}|25|blob|/usr/lib/x86_64-linux-gnu",
            Q("select mode, size, typeof(data), cast(data as text) from inode join extra using (ino) where name = 'lib64'"));
        Assert.Equal("2", Q("select count(*) from extra"));
        // Blocks: 32-byte blobs, ceil(size/512Ki) rows per file, none for the empty file, hard link shares the rows.
        Assert.Equal("0", Q("select count(*) from block where typeof(id) <> 'blob' or length(id) <> 32 or typeof(key) <> 'blob' or length(key) <> 32"));
        Assert.Equal("4", Q("select count(*) from block join inode using (ino) where name = 'big.bin'"));
        Assert.Equal("0", Q("select count(*) from block join inode using (ino) where name = 'empty'"));
        Assert.Equal("1", Q("select count(*) from block join inode using (ino) where name = 'exact'"));
        Assert.Equal("2", Q("select count(*) from block join inode using (ino) where name = 'exact+1'"));
        Assert.Equal(
            Q("select lower(hex(id)) from block where ino = (select ino from inode where name = 'big.bin') order by rowid"),
            Q("select lower(hex(id)) from block where ino = (select ino from inode where name = 'z-link-to-big') order by rowid"));
        Assert.Equal($"{3 * 524288 + 12345}", Q("select size from inode where name = 'z-link-to-big'"));
        Assert.Equal($"0|255|dir://{dir}/store", Q("select start, \"end\", url from route"));
        Assert.Equal("author|tests", Q("select key, value from tag"));
    }

    [Fact]
    public void SymlinkTarget_EndsAtFirstNul_WithWarning()
    {
        // Corrupt images hold NULs in symlink targets (e2fsprogs f_badsymlinks); the kernel reads up to the first one.
        var dir = TestEnvironment.NewTempDir("rff-fl");
        var fl = Path.Combine(dir, "out.fl");
        var sink = Pack(fl, [TreeFixtures.Dir(""), TreeFixtures.Symlink("bad", "target\0garbage")],
            BlockStoreRoute.Parse($"dir://{dir}/store"));
        Assert.Contains(sink.Statistics.Warnings, w => w.Contains("'bad'") && w.Contains("first NUL"));
        using var db = new SqliteConnection($"Data Source={fl};Mode=ReadOnly;Pooling=False");
        db.Open();
        Assert.Equal(["6|target"], Rows(db, "select size, cast(data as text) from inode join extra using (ino) where name = 'bad'"));
    }

    [Fact]
    public void Schema_MatchesRfsFixtures()
    {
        var dir = TestEnvironment.NewTempDir("rff-fl");
        var fl = Path.Combine(dir, "out.fl");
        Pack(fl, TreeFixtures.SampleTree(), BlockStoreRoute.Parse($"dir://{dir}/store"));
        Assert.False(File.Exists(fl + "-journal"));
        Assert.False(File.Exists(fl + "-wal"));
        var header = File.ReadAllBytes(fl).AsSpan(0, 100).ToArray();
        Assert.Equal(1, header[18]);
        Assert.Equal(1, header[19]);
        Assert.Equal(1u, (uint)header[59]); // text encoding UTF-8 (big-endian 1 at 56..59)

        foreach (var fixture in new[] { "alpine-latest.fl", "hello-world-latest.fl", "redis-latest.fl" })
        {
            var reference = Path.Combine(TestEnvironment.DataDir, "rfs", fixture);
            Assert.Equal(SchemaOf(reference), SchemaOf(fl));
        }
    }

    private static List<string> SchemaOf(string path)
    {
        using var db = new SqliteConnection($"Data Source={path};Mode=ReadOnly;Pooling=False");
        db.Open();
        var result = Rows(db, "select type, name, tbl_name from sqlite_master order by type, name");
        foreach (var table in Rows(db, "select name from sqlite_master where type = 'table' order by name"))
            result.AddRange(Rows(db, $"select '{table}', cid, name, type, \"notnull\", pk from pragma_table_info('{table}')"));
        foreach (var index in Rows(db, "select name from sqlite_master where type = 'index' order by name"))
            result.AddRange(Rows(db, $"select '{index}', seqno, name from pragma_index_info('{index}')"));
        result.Add("user_version=" + string.Join("", Rows(db, "pragma user_version")));
        result.Add("encoding=" + string.Join("", Rows(db, "pragma encoding")));
        return result;
    }

    internal static List<string> Rows(SqliteConnection db, string sql)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        using var r = cmd.ExecuteReader();
        var rows = new List<string>();
        while (r.Read())
            rows.Add(string.Join("|", Enumerable.Range(0, r.FieldCount).Select(i => r.IsDBNull(i) ? "NULL" : Convert.ToString(r.GetValue(i), System.Globalization.CultureInfo.InvariantCulture))));
        return rows;
    }

    [Fact]
    public async Task Dedup_SecondBuildUploadsOnlyNewBlocks()
    {
        var dir = TestEnvironment.NewTempDir("rff-fl");
        var first = TreeFixtures.SampleTree(seed: 7);
        var extra = TreeFixtures.File("data/new.bin", TreeFixtures.Random(700_000, 99));
        var second = TreeFixtures.InWalkOrder(first.Append(extra));

        var counting1 = new CountingStore(BlockStore.Open($"dir://{dir}/store"));
        var sink1 = Pack(Path.Combine(dir, "one.fl"), first, new BlockStoreRoute(0, 255, counting1));
        int storedFirst = Directory.GetFiles(Path.Combine(dir, "store")).Length;
        Assert.Equal(storedFirst, counting1.Puts);
        Assert.Equal(storedFirst, sink1.Blocks.BlocksUploaded);

        var counting2 = new CountingStore(BlockStore.Open($"dir://{dir}/store"));
        var sink2 = Pack(Path.Combine(dir, "two.fl"), second, new BlockStoreRoute(0, 255, counting2));
        // new.bin = 700 000 random bytes = 2 new chunks; everything else was already present.
        Assert.Equal(2, counting2.Puts);
        Assert.Equal(2, sink2.Blocks.BlocksUploaded);
        Assert.Equal(storedFirst, sink2.Blocks.BlocksAlreadyPresent);
        Assert.Equal(storedFirst + 2, Directory.GetFiles(Path.Combine(dir, "store")).Length);
        Assert.Equal(TreeFixtures.Canonical(second), await ReadBackAsync(Path.Combine(dir, "two.fl")));
    }

    [Fact]
    public async Task Routing_WritesEveryMatchingStore()
    {
        var dir = TestEnvironment.NewTempDir("rff-fl");
        var tree = TreeFixtures.SampleTree(seed: 3);
        var low = BlockStoreRoute.Parse($"00-7f=dir://{dir}/low");
        var high = BlockStoreRoute.Parse($"80-ff=dir://{dir}/high");
        var all = BlockStoreRoute.Parse($"dir://{dir}/all");
        var fl = Path.Combine(dir, "out.fl");
        Pack(fl, tree, low, high, all);
        var lowIds = Directory.GetFiles(Path.Combine(dir, "low")).Select(Path.GetFileName).ToList();
        var highIds = Directory.GetFiles(Path.Combine(dir, "high")).Select(Path.GetFileName).ToList();
        var allIds = Directory.GetFiles(Path.Combine(dir, "all")).Select(Path.GetFileName).Order().ToList();
        Assert.All(lowIds, id => Assert.True(Convert.ToByte(id![..2], 16) <= 0x7f));
        Assert.All(highIds, id => Assert.True(Convert.ToByte(id![..2], 16) >= 0x80));
        Assert.Equal(allIds, lowIds.Concat(highIds).Order().ToList());
        Assert.Equal(TreeFixtures.Canonical(tree), await ReadBackAsync(fl));
        Assert.Throws<ArgumentException>(() => new FlistSink(fl + "2", new FlistSinkOptions { Stores = [low] }));
    }

    [Fact]
    public async Task NonUtf8Names_AreSkippedWithWarning()
    {
        var dir = TestEnvironment.NewTempDir("rff-fl");
        string bad = FileNameEncoding.GetString([0x66, 0xFF, 0x6F]);
        var tree = TreeFixtures.InWalkOrder([
            TreeFixtures.Dir(""), TreeFixtures.Dir(bad), TreeFixtures.File(bad + "/inner", [1, 2, 3]),
            TreeFixtures.File("ok", [4, 5]),
        ]);
        var sink = Pack(Path.Combine(dir, "out.fl"), tree, BlockStoreRoute.Parse($"dir://{dir}/store"));
        Assert.Single(sink.Statistics.Warnings, w => w.Contains("not UTF-8"));
        var back = await ReadBackAsync(Path.Combine(dir, "out.fl"));
        Assert.Equal(2, back.Count);
        Assert.StartsWith("ok|", back[1]);
    }

    [Fact]
    public void StoreUrl_RedactsSecrets()
    {
        Assert.Equal("zdb://user@host:9900/ns", StoreUrl.Redact("zdb://user:s3cret@host:9900/ns"));
        Assert.Equal("zdb://host:9900/ns", StoreUrl.Redact("zdb://:s3cret@host:9900/ns"));
        Assert.Equal("s3://AKID@h:9000/bucket?region=x", StoreUrl.Redact("s3://AKID:SECRET@h:9000/bucket?region=x"));
        Assert.Equal("server://http://h:1/x?a=1", StoreUrl.Redact("server://http://h:1/x?token=abc&a=1"));
        Assert.Equal("dir:///tmp/x", StoreUrl.Redact("dir:///tmp/x"));
        Assert.Equal("zdb://u@127.0.0.1:1/ns", BlockStore.Open("zdb://u:pw@127.0.0.1:1/ns").Url);
    }
}
