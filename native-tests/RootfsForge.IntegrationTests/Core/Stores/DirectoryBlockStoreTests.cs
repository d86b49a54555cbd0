using RootfsForge.Flist;
using RootfsForge.NativeTests.Support;
using RootfsForge.Stores;
using Xunit;

namespace RootfsForge.NativeTests.Flist;

/// <summary>
/// The <c>dir://</c> store writes a block as one O_TMPFILE file hard-linked under both layouts. (Its fallback for
/// filesystems without O_TMPFILE or hard links is not exercised: every filesystem this kernel can mount has both.)
/// </summary>
public class DirectoryBlockStoreTests
{
    [Fact]
    public async Task Put_OneFileUnderBothNames_NoTemporaryNames()
    {
        string root = Path.Combine(TestEnvironment.NewTempDir("rff-store"), "store");
        var block = FlistBlock.Encode(TreeFixtures.Random(300_000, 7));
        string hex = Convert.ToHexStringLower(block.Id);
        await using var store = BlockStore.Open($"dir://{root}");
        Assert.False(await store.ExistsAsync(block.Id));
        await store.PutAsync(block.Id, block.Data);
        await store.PutAsync(block.Id, block.Data); // a second put of the same block is harmless

        string flat = Path.Combine(root, hex), twoLevel = Path.Combine(root, hex[..2], hex);
        Assert.Equal(block.Data, File.ReadAllBytes(flat));
        Assert.Equal(block.Data, File.ReadAllBytes(twoLevel));
        Assert.True(await store.ExistsAsync(block.Id));
        Assert.Equal(block.Data, await store.GetAsync(block.Id));
        // Nothing else: no temporary names left behind by either path.
        Assert.Equal(new[] { flat, twoLevel }.Order(StringComparer.Ordinal),
            Directory.GetFiles(root, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal));
        Assert.Equal("2 2", TestEnvironment.RunChecked("stat", ["-c", "%h", flat, twoLevel]).ReplaceLineEndings(" ").Trim());
        Assert.Equal(TestEnvironment.RunChecked("stat", ["-c", "%i", flat]), TestEnvironment.RunChecked("stat", ["-c", "%i", twoLevel]));
    }
}
