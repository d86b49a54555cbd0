using RootfsForge.NativeTests.Support;
using RootfsForge.Disks;
using RootfsForge.Partitions;
using Xunit;

namespace RootfsForge.NativeTests.Disks;

/// <summary>GPT/MBR/bare disks from sgdisk, sfdisk and mke2fs, compared with sfdisk --json and blkid.</summary>
public sealed class PartitionTableTests
{
    private static void AssertMatchesSfdisk(PartitionTable table, string disk, int sectorSize = 512)
    {
        var expected = PartitionFixtures.Sfdisk(disk);
        Assert.Equal(expected.Keys.Where(k => !IsExtendedContainer(expected[k])).Order(),
            table.Partitions.Select(p => p.Number).Order());
        foreach (var p in table.Partitions)
        {
            var e = expected[p.Number];
            Assert.Equal(e.Start * sectorSize, p.Offset);
            Assert.Equal(e.Size * sectorSize, p.Length);
            if (table.Scheme == PartitionScheme.Gpt)
            {
                Assert.Equal(Guid.Parse(e.Type), p.TypeGuid);
                Assert.Equal(Guid.Parse(e.Uuid!), p.UniqueGuid);
                Assert.Equal(e.Name, p.Name);
            }
            else
            {
                Assert.Equal(Convert.ToByte(e.Type, 16), p.MbrType);
            }
        }
    }

    private static bool IsExtendedContainer(PartitionFixtures.SfdiskPartition p) => p.Type is "5" or "f" or "85";

    private static void AssertMatchesBlkid(Partition p, string file, long diskOffset = 0)
    {
        var blkid = PartitionFixtures.Blkid(file, diskOffset + p.Offset);
        switch (p.FileSystem)
        {
            case FileSystemKind.Ext:
                Assert.StartsWith("ext", blkid["TYPE"]);
                Assert.Equal(blkid.GetValueOrDefault("LABEL"), p.FileSystemLabel);
                Assert.Equal(Guid.Parse(blkid["UUID"]), p.FileSystemUuid);
                break;
            case FileSystemKind.Vfat:
                Assert.Equal("vfat", blkid["TYPE"]);
                break;
            case FileSystemKind.Xfs:
                Assert.Equal("xfs", blkid["TYPE"]);
                break;
        }
    }

    [SkippableFact]
    public void UbuntuLikeGptMatchesSfdiskAndBlkid()
    {
        PartitionFixtures.RequireTools();
        string disk = PartitionFixtures.UbuntuLike;
        using var image = DiskImage.Open(disk);
        var table = PartitionTable.Read(image);
        Assert.Equal(PartitionScheme.Gpt, table.Scheme);
        Assert.Empty(table.Warnings);
        AssertMatchesSfdisk(table, disk);
        var byNumber = table.Partitions.ToDictionary(p => p.Number);
        Assert.Equal("BIOS boot", byNumber[14].TypeName);
        Assert.Equal("EFI System", byNumber[15].TypeName);
        Assert.Equal(FileSystemKind.Vfat, byNumber[15].FileSystem);
        Assert.Equal("Linux filesystem", byNumber[1].TypeName);
        Assert.Equal(FileSystemKind.Ext, byNumber[1].FileSystem);
        Assert.Equal("cloudimg-rootfs", byNumber[1].FileSystemLabel);
        Assert.Equal(Guid.Parse("8d5b0e39-5c2e-4d0b-9b3a-2f0c8f2f7a11"), byNumber[1].FileSystemUuid);
        foreach (var p in table.Partitions) AssertMatchesBlkid(p, disk);

        Assert.Same(byNumber[1], RootPartitionSelector.Select(table));
        // Partition.Open: the ext superblock magic is at 0x438 of the slice.
        using var root = byNumber[1].Open(image);
        Assert.Equal(byNumber[1].Length, root.Length);
        var magic = new byte[2];
        root.ReadExactlyAt(0x438, magic);
        Assert.Equal(new byte[] { 0x53, 0xEF }, magic);
    }

    [SkippableFact]
    public void SameTableThroughQcow2()
    {
        PartitionFixtures.RequireTools();
        DiskFixtures.RequireQemu();
        string raw = PartitionFixtures.UbuntuLike;
        string qcow = DiskFixtures.Build("gpt-ubuntu.qcow2", p =>
            DiskFixtures.Qemu("qemu-img", ["convert", "-c", "-O", "qcow2", "-o", "compression_type=zstd", raw, p]));
        using var a = DiskImage.Open(raw);
        using var b = DiskImage.Open(qcow);
        var ta = PartitionTable.Read(a);
        var tb = PartitionTable.Read(b);
        Assert.Equal(ta.Partitions.Select(p => p.ToString()), tb.Partitions.Select(p => p.ToString()));
        Assert.Equal(ta.Partitions.Select(p => p.FileSystemUuid), tb.Partitions.Select(p => p.FileSystemUuid));
    }

    [SkippableTheory]
    [InlineData(512 + 16, "header")]    // header CRC field
    [InlineData(1024 + 40, "entries")]  // an entry's first LBA: the entry array CRC fails
    [InlineData(512, "signature")]      // the signature itself
    public void DamagedPrimaryGptFallsBackToBackup(int offset, string what)
    {
        PartitionFixtures.RequireTools();
        string dir = TestEnvironment.NewTempDir();
        string disk = Path.Combine(dir, "damaged.raw");
        File.Copy(PartitionFixtures.UbuntuLike, disk);
        using (var f = new FileStream(disk, FileMode.Open)) { f.Position = offset; int b = f.ReadByte(); f.Position = offset; f.WriteByte((byte)(b ^ 0x5A)); }

        using var image = DiskImage.Open(disk);
        var table = PartitionTable.Read(image);
        Assert.Equal(PartitionScheme.Gpt, table.Scheme);
        Assert.Contains(table.Warnings, w => w.Contains("primary GPT header is") && w.Contains("using the backup header"));
        using var pristine = DiskImage.Open(PartitionFixtures.UbuntuLike);
        Assert.Equal(PartitionTable.Read(pristine).Partitions.Select(p => (p.Number, p.Offset, p.Length, p.Name, p.UniqueGuid)),
            table.Partitions.Select(p => (p.Number, p.Offset, p.Length, p.Name, p.UniqueGuid)));
        _ = what;
    }

    [SkippableFact]
    public void BothGptHeadersDamagedIsRefused()
    {
        PartitionFixtures.RequireTools();
        string dir = TestEnvironment.NewTempDir();
        string disk = Path.Combine(dir, "dead.raw");
        File.Copy(PartitionFixtures.UbuntuLike, disk);
        long length = new FileInfo(disk).Length;
        using (var f = new FileStream(disk, FileMode.Open))
        {
            f.Position = 512 + 16; f.WriteByte(0xFF);
            f.Position = length - 512 + 16; f.WriteByte(0xFF);
        }
        using var image = DiskImage.Open(disk);
        var e = Assert.ThrowsAny<ImageFormatException>(() => PartitionTable.Read(image));
        Assert.Equal(ImageErrorKind.Corrupt, e.Kind);
        Assert.Equal("GPT header", e.Structure);
        Assert.Equal(512, e.Offset);
    }

    [SkippableFact]
    public void Gpt4096ByteSectors()
    {
        PartitionFixtures.RequireTools();
        TestEnvironment.RequireRoot("losetup --sector-size 4096 lets sgdisk write a 4 KiB-sector GPT");
        TestEnvironment.RequireTool("losetup");
        string dir = DiskFixtures.BuildSet("gpt-4k", d =>
        {
            string disk = PartitionFixtures.NewDisk(d, "disk.raw", 16L << 20);
            string loop = TestEnvironment.RunChecked("losetup", ["-f", "--show", "--sector-size", "4096", disk]).Trim();
            try
            {
                TestEnvironment.RunChecked("sgdisk", ["-n", "1:0:+4M", "-t", "1:EF00", "-c", "1:esp", "-n", "2:0:0", "-t", "2:8304",
                    "-c", "2:root", loop]);
                File.WriteAllText(Path.Combine(d, "sfdisk.json"), TestEnvironment.RunChecked("sfdisk", ["--json", loop]));
            }
            finally
            {
                TestEnvironment.Run("losetup", ["-d", loop]);
            }
        });
        string json = File.ReadAllText(Path.Combine(dir, "sfdisk.json"));
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        var pt = doc.RootElement.GetProperty("partitiontable");
        Assert.Equal(4096, pt.GetProperty("sectorsize").GetInt32());
        using var image = DiskImage.Open(Path.Combine(dir, "disk.raw"));
        var table = PartitionTable.Read(image);
        Assert.Equal(4096, table.SectorSize);
        var parts = pt.GetProperty("partitions").EnumerateArray().ToList();
        Assert.Equal(parts.Count, table.Partitions.Count);
        for (int i = 0; i < parts.Count; i++)
        {
            Assert.Equal(parts[i].GetProperty("start").GetInt64() * 4096, table.Partitions[i].Offset);
            Assert.Equal(parts[i].GetProperty("size").GetInt64() * 4096, table.Partitions[i].Length);
            Assert.Equal(Guid.Parse(parts[i].GetProperty("type").GetString()!), table.Partitions[i].TypeGuid);
        }
        Assert.Equal("Linux root (x86-64)", table.Partitions[1].TypeName);
    }

    internal static string MbrDisk => Path.Combine(DiskFixtures.BuildSet("mbr-logical", d =>
    {
        string disk = PartitionFixtures.NewDisk(d, "disk.raw", 16L << 20);
        string script = string.Join("\n",
            "label: dos",
            "start=2048, size=4096, type=83",
            "start=6144, size=2048, type=82",
            "start=8192, size=22528, type=5",
            "start=10240, size=4096, type=83",
            "start=16384, size=2048, type=8e",
            "start=20480, size=10240, type=83") + "\n";
        var (code, o, e) = TestEnvironment.Run("sh", ["-c", $"printf '%s' \"$0\" | sfdisk -q {disk}", script]);
        if (code != 0) throw new InvalidOperationException(o + e);
        var parts = PartitionFixtures.Sfdisk(disk);
        PartitionFixtures.WriteExt(disk, parts[1].Start * 512, parts[1].Size * 512, "boot", d);
        PartitionFixtures.WriteExt(disk, parts[7].Start * 512, parts[7].Size * 512, null, d);
    }), "disk.raw");

    [SkippableFact]
    public void MbrWithLogicalPartitionsMatchesSfdisk()
    {
        PartitionFixtures.RequireTools();
        string disk = MbrDisk;
        using var image = DiskImage.Open(disk);
        var table = PartitionTable.Read(image);
        Assert.Equal(PartitionScheme.Mbr, table.Scheme);
        Assert.Empty(table.Warnings);
        AssertMatchesSfdisk(table, disk);
        Assert.Equal([1, 2, 5, 6, 7], table.Partitions.Select(p => p.Number));
        foreach (var p in table.Partitions) AssertMatchesBlkid(p, disk);
        Assert.Equal("Linux swap", table.Partitions[1].TypeName);
        // Largest ext wins over the labelled-"boot" smaller one.
        Assert.Equal(7, RootPartitionSelector.Select(table).Number);
        Assert.Equal(1, RootPartitionSelector.Select(table, looksLikeRoot: p => p.Number == 1).Number);
    }

    [SkippableFact]
    public void EbrLoopIsCutWithWarning()
    {
        PartitionFixtures.RequireTools();
        string dir = TestEnvironment.NewTempDir();
        string disk = Path.Combine(dir, "loop.raw");
        File.Copy(MbrDisk, disk);
        // The second EBR (for logical 6) sits at 8192 + 8192 - 2048 = LBA 14336; make its "next" entry point to the first EBR.
        var parts = PartitionFixtures.Sfdisk(MbrDisk);
        long ebr2 = parts[6].Start - 2048;
        using (var f = new FileStream(disk, FileMode.Open))
        {
            f.Position = ebr2 * 512 + 462 + 8;
            f.Write(new byte[4]); // relative start 0 = the first EBR again
        }
        using var image = DiskImage.Open(disk);
        var table = PartitionTable.Read(image);
        Assert.Contains(table.Warnings, w => w.Contains("loops"));
        Assert.Equal([1, 2, 5, 6], table.Partitions.Select(p => p.Number));
    }

    [SkippableFact]
    public void BareFilesystemIsOnePseudoPartition()
    {
        PartitionFixtures.RequireTools();
        string dir = DiskFixtures.BuildSet("bare", d =>
            TestEnvironment.RunChecked("mke2fs", ["-q", "-F", "-t", "ext4", "-L", "bare-root", Path.Combine(d, "fs.img"), "4M"]));
        string disk = Path.Combine(dir, "fs.img");
        using var image = DiskImage.Open(disk);
        var table = PartitionTable.Read(image);
        Assert.Equal(PartitionScheme.None, table.Scheme);
        var p = Assert.Single(table.Partitions);
        Assert.Equal(0, p.Number);
        Assert.Equal(0, p.Offset);
        Assert.Equal(image.Length, p.Length);
        Assert.Equal(FileSystemKind.Ext, FileSystemProbe.Detect(image));
        Assert.Equal("bare-root", p.FileSystemLabel);
        AssertMatchesBlkid(p, disk);
        Assert.Same(p, RootPartitionSelector.Select(table));
    }
}
