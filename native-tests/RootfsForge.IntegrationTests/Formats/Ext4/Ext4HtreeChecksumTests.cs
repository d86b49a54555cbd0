using System.Buffers.Binary;
using RootfsForge.NativeTests.Support;
using RootfsForge.Ext4;
using Xunit;
using Xunit.Abstractions;
using RootfsForge.Disks;

namespace RootfsForge.NativeTests.Ext4;

/// <summary>
/// metadata_csum of htree internal blocks (dx_root, dx_node: a dx_tail, not a dirent tail) on directories indexed by the
/// kernel itself (rw loop mount). Oracles: the kernel's read-only view for the names, e2fsck -fn for which bytes the
/// checksum covers.
/// </summary>
public class Ext4HtreeChecksumTests(ITestOutputHelper output)
{
    /// <summary>Block size, file count and name length: 1 KiB blocks with long names give a two-level tree (dx_nodes);
    /// 4 KiB blocks with short names a root-only tree made by converting a linear block (like fixture fs/kernel.img).</summary>
    public static TheoryData<int, int, int> Layouts => new() { { 1024, 2000, 200 }, { 4096, 3000, 12 } };

    private static string KernelHtreeImage(int blockSize, int files, int nameLength) =>
        Ext4Fixtures.KernelWritten($"kernel-htree-{blockSize}-{files}-{nameLength}-v1.img", "48M",
            ["-b", blockSize.ToString(System.Globalization.CultureInfo.InvariantCulture), "-I", "256", "-O", "metadata_csum,dir_index"],
            mnt =>
            {
                string dir = Path.Combine(mnt, "big");
                Directory.CreateDirectory(dir);
                for (int i = 0; i < files; i++)
                {
                    string prefix = $"n{i:D5}-";
                    File.WriteAllBytes(Path.Combine(dir, prefix + new string('x', nameLength - prefix.Length)), []);
                }
            });

    private static void RequireKernelTools()
    {
        TestEnvironment.RequireRoot("the htree directory is written by the kernel through a loop mount");
        foreach (var tool in new[] { "mkfs.ext4", "mount", "debugfs", "e2fsck" }) TestEnvironment.RequireTool(tool);
    }

    /// <summary>Physical block numbers of /big in logical order (debugfs), and the htree depth it reports.</summary>
    private static (long[] Blocks, int Levels) Layout(string image)
    {
        var blocks = TestEnvironment.RunChecked("debugfs", ["-R", "blocks /big", image])
            .Split((char[])[' ', '\n'], StringSplitOptions.RemoveEmptyEntries).Select(long.Parse).ToArray();
        string dump = TestEnvironment.RunChecked("debugfs", ["-R", "htree_dump /big", image]);
        var line = dump.Split('\n').First(l => l.Contains("Indirect levels:", StringComparison.Ordinal));
        return (blocks, int.Parse(line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim(), System.Globalization.CultureInfo.InvariantCulture));
    }

    [SkippableTheory]
    [MemberData(nameof(Layouts))]
    public void KernelIndexedDirectoryVerifiesAndMatchesKernelView(int blockSize, int files, int nameLength)
    {
        RequireKernelTools();
        string image = KernelHtreeImage(blockSize, files, nameLength);
        var (blocks, levels) = Layout(image);
        output.WriteLine($"{blocks.Length} directory blocks, {levels} indirect level(s)");
        if (blockSize == 1024) Assert.True(levels >= 1, "the 1 KiB layout must have dx_node blocks to test them");
        var (fsck, fsckOut, _) = TestEnvironment.Run("e2fsck", ["-fn", image]);
        Assert.True(fsck == 0, "e2fsck -fn on the kernel-written image: " + fsckOut);

        string mnt = TestEnvironment.NewTempDir("rff-mnt");
        string[] kernelNames;
        TestEnvironment.RunChecked("mount", ["-o", "ro,loop,noload", image, mnt]);
        try
        {
            kernelNames = Directory.GetFileSystemEntries(Path.Combine(mnt, "big")).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;
        }
        finally
        {
            TestEnvironment.RunChecked("umount", [mnt]);
            Directory.Delete(mnt);
        }

        using var device = BlockSource.OpenFile(image);
        using var fs = Ext4FileSystem.Open(device, new Ext4Options { VerifyChecksums = true });
        var ours = fs.Walk().Where(e => e.Path.StartsWith("big/", StringComparison.Ordinal))
            .Select(e => e.Path["big/".Length..]).Order(StringComparer.Ordinal).ToArray();
        Assert.Empty(fs.Warnings);
        Assert.Equal(files, kernelNames.Length);
        Assert.Equal(kernelNames, ours);
    }

    /// <summary>Where a flipped byte lands in an htree block of the 1 KiB layout.</summary>
    public enum Spot
    {
        RootUsedEntry,
        RootTailChecksum,
        NodeUsedEntry,
        NodeUnusedSlot,
        NodeTailReserved,
    }

    /// <summary>
    /// One flipped byte in a dx_root or dx_node: --verify-checksums must fail exactly when e2fsck finds a checksum
    /// problem (the unused slots between count and limit are not covered; dt_reserved is).
    /// </summary>
    [SkippableTheory]
    [InlineData(Spot.RootUsedEntry, true)]
    [InlineData(Spot.RootTailChecksum, true)]
    [InlineData(Spot.NodeUsedEntry, true)]
    [InlineData(Spot.NodeUnusedSlot, false)]
    [InlineData(Spot.NodeTailReserved, true)]
    public void FlippedHtreeByteIsCaughtExactlyWhenE2fsckCatchesIt(Spot spot, bool expectMismatch)
    {
        RequireKernelTools();
        const int bs = 1024;
        string image = KernelHtreeImage(bs, 2000, 200);
        var (blocks, levels) = Layout(image);
        Assert.True(levels >= 1);
        byte[] data = File.ReadAllBytes(image);

        long root = blocks[0] * bs;
        long node = blocks.Skip(1).Select(b => b * bs)
            .First(p => BinaryPrimitives.ReadUInt16LittleEndian(data.AsSpan((int)p + DirectoryEntry.Field.RecLen)) == bs);
        int rootLimit = BinaryPrimitives.ReadUInt16LittleEndian(data.AsSpan((int)root + DxNode.RootCountLimitOffset));
        int nodeLimit = BinaryPrimitives.ReadUInt16LittleEndian(data.AsSpan((int)node + DxNode.NodeCountLimitOffset));
        int nodeCount = BinaryPrimitives.ReadUInt16LittleEndian(data.AsSpan((int)node + DxNode.NodeCountLimitOffset + 2));
        Assert.True(nodeCount + 2 < nodeLimit, $"the dx_node needs unused slots (count {nodeCount}, limit {nodeLimit})");
        long offset = spot switch
        {
            // Byte 1 of the hash of the first real entry (slot 1; slot 0 is count/limit + block).
            Spot.RootUsedEntry => root + DxNode.RootCountLimitOffset + DxNode.EntrySize + 1,
            Spot.RootTailChecksum => root + DxNode.RootCountLimitOffset + rootLimit * DxNode.EntrySize + DxNode.Tail.Checksum,
            Spot.NodeUsedEntry => node + DxNode.NodeCountLimitOffset + (nodeCount - 1) * DxNode.EntrySize + 1,
            Spot.NodeUnusedSlot => node + DxNode.NodeCountLimitOffset + (nodeCount + 1) * DxNode.EntrySize + 1,
            Spot.NodeTailReserved => node + DxNode.NodeCountLimitOffset + nodeLimit * DxNode.EntrySize + DxNode.Tail.Reserved,
            _ => throw new ArgumentOutOfRangeException(nameof(spot)),
        };
        data[offset] ^= 0x40;

        string work = TestEnvironment.NewTempDir("rff-htree");
        try
        {
            string bad = Path.Combine(work, "bad.img");
            File.WriteAllBytes(bad, data);
            var (fsck, fsckOut, _) = TestEnvironment.Run("e2fsck", ["-fn", bad]);
            bool e2fsckSaysChecksum = fsck != 0 && fsckOut.Contains("fails checksum", StringComparison.Ordinal);
            output.WriteLine($"e2fsck exit {fsck}: {string.Join(" | ", fsckOut.Split('\n').Where(l => l.Contains("HTREE", StringComparison.Ordinal)).Take(3))}");

            string? ours = null;
            using (var device = BlockSource.FromBytes(data))
            using (var fs = Ext4FileSystem.Open(device, new Ext4Options { VerifyChecksums = true }))
            {
                try
                {
                    _ = fs.Walk().Count();
                }
                catch (ImageFormatException e) when (e.Kind == ImageErrorKind.ChecksumMismatch)
                {
                    ours = e.Message;
                    Assert.StartsWith("ext4 inode ", e.Structure, StringComparison.Ordinal);
                    Assert.Contains(" directory block ", e.Structure, StringComparison.Ordinal);
                    Assert.Equal(offset / bs * bs, e.Offset); // the damaged block itself
                }
            }
            output.WriteLine("ours: " + (ours ?? "no mismatch"));
            Assert.Equal(expectMismatch, e2fsckSaysChecksum);
            Assert.Equal(e2fsckSaysChecksum, ours is not null);
        }
        finally
        {
            Directory.Delete(work, true);
        }
    }
}
