using RootfsForge.NativeTests.Support;
using RootfsForge.Sinks.Flist;
using RootfsForge.Sources.Flist;
using RootfsForge.Stores;
using RootfsForge.Tree;
using Xunit;

namespace RootfsForge.NativeTests.Flist;

/// <summary>
/// The block index (key → block id) that lets a repack skip compression and encryption: the result must be the same
/// as without it, a block the store lost is encoded and stored again, and a damaged index entry is never trusted.
/// The oracle for "the same" is a pack without any index, and for the blocks the store's own files plus a full verify.
/// </summary>
public class BlockIndexTests
{
    private static List<TreeEntry> Tree() => TreeFixtures.InWalkOrder(
    [
        TreeFixtures.Dir(""),
        TreeFixtures.Dir("d"),
        TreeFixtures.File("d/big", TreeFixtures.Random(1_300_000, 1)),
        TreeFixtures.File("d/small", TreeFixtures.Random(1000, 2)),
        TreeFixtures.File("d/copy", TreeFixtures.Random(1000, 2)),
        TreeFixtures.File("zeros", new byte[700_000]),
    ]);

    private static async Task<FlistStatistics> PackAsync(string fl, string store, string? index)
    {
        var route = BlockStoreRoute.Parse($"dir://{store}");
        try
        {
            var sink = new FlistSink(fl, new FlistSinkOptions { Stores = [route], BlockIndexPath = index });
            await using (sink)
            {
                foreach (var e in Tree()) await sink.AddAsync(e);
                await sink.CompleteAsync();
            }
            return sink.Blocks;
        }
        finally
        {
            await route.Store.DisposeAsync();
        }
    }

    private static async Task<bool> VerifyAsync(string fl, string store)
    {
        var route = BlockStoreRoute.Parse($"dir://{store}");
        await using var source = FlistSource.Open(fl, [route]);
        return (await source.VerifyAsync()).Ok;
    }

    [Fact]
    public async Task RepackWithTheIndex_GivesTheSameFl_WithoutEncoding()
    {
        var dir = TestEnvironment.NewTempDir("rff-bix");
        string index = Path.Combine(dir, "cache", "block-ids");
        string store = Path.Combine(dir, "store");
        var plain = await PackAsync(Path.Combine(dir, "plain.fl"), store, index: null);
        var first = await PackAsync(Path.Combine(dir, "a.fl"), store, index);
        var second = await PackAsync(Path.Combine(dir, "b.fl"), store, index);

        // Same bytes with and without the index (same store, so the same route row).
        Assert.Equal(File.ReadAllBytes(Path.Combine(dir, "plain.fl")), File.ReadAllBytes(Path.Combine(dir, "a.fl")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(dir, "a.fl")), File.ReadAllBytes(Path.Combine(dir, "b.fl")));
        Assert.Equal(plain.BlocksUploaded, first.BlocksAlreadyPresent);
        Assert.Equal(0, first.BlocksKnown - first.BlocksDuplicate); // a new index knows nothing but this pack's repeats
        // Every chunk but the two all-zero ones of "zeros" (encoded once per build without the index) came from the index.
        Assert.Equal(second.Blocks - 2, second.BlocksKnown);
        Assert.Equal(0, second.BytesStored);
        Assert.Equal(plain.BlocksUploaded, second.BlocksAlreadyPresent);
        Assert.True(await VerifyAsync(Path.Combine(dir, "b.fl"), Path.Combine(dir, "store")));
    }

    [Fact]
    public async Task ABlockTheStoreLost_IsEncodedAndStoredAgain()
    {
        var dir = TestEnvironment.NewTempDir("rff-bix");
        string index = Path.Combine(dir, "block-ids"), store = Path.Combine(dir, "store");
        await PackAsync(Path.Combine(dir, "a.fl"), store, index);
        // The flat layout holds one file per block (docs/flist-format.md §6): delete one, both names of it.
        var victim = Directory.GetFiles(store).OrderBy(f => f, StringComparer.Ordinal).First();
        var id = Path.GetFileName(victim);
        foreach (var f in Directory.GetFiles(store, id, SearchOption.AllDirectories)) File.Delete(f);
        Assert.False(await VerifyAsync(Path.Combine(dir, "a.fl"), store));

        var again = await PackAsync(Path.Combine(dir, "b.fl"), store, index);
        Assert.Equal(1, again.BlocksUploaded);
        Assert.True(File.Exists(Path.Combine(store, id)));
        Assert.True(await VerifyAsync(Path.Combine(dir, "b.fl"), store));
    }

    [Fact]
    public async Task DamagedIndexRecords_AreNotTrusted()
    {
        var dir = TestEnvironment.NewTempDir("rff-bix");
        string index = Path.Combine(dir, "block-ids"), store = Path.Combine(dir, "store");
        await PackAsync(Path.Combine(dir, "a.fl"), store, index);
        var bytes = File.ReadAllBytes(index);
        Assert.True(bytes.Length > 16 + 72, "the index holds records");
        // Flip a bit inside the id of every record: a trusted damaged id would point the .fl at a block that is not there.
        for (int at = 16 + 40; at < bytes.Length; at += 72) bytes[at] ^= 0x01;
        File.WriteAllBytes(index, bytes);

        var again = await PackAsync(Path.Combine(dir, "b.fl"), store, index);
        // Nothing came from the damaged file; the only chunk known is the one repeated inside this pack (d/copy = d/small).
        Assert.Equal(again.BlocksDuplicate, again.BlocksKnown);
        Assert.Equal(File.ReadAllBytes(Path.Combine(dir, "a.fl")), File.ReadAllBytes(Path.Combine(dir, "b.fl")));
        Assert.True(await VerifyAsync(Path.Combine(dir, "b.fl"), store));
    }

    [Fact]
    public async Task NotAnIndexFile_IsRefused()
    {
        var dir = TestEnvironment.NewTempDir("rff-bix");
        string index = Path.Combine(dir, "block-ids");
        File.WriteAllText(index, "something else entirely\n");
        await Assert.ThrowsAsync<InvalidDataException>(() => PackAsync(Path.Combine(dir, "a.fl"), Path.Combine(dir, "store"), index));
        Assert.False(File.Exists(Path.Combine(dir, "a.fl")));
    }
}
