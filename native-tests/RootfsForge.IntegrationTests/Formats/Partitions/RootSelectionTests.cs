using RootfsForge.NativeTests.Support;
using RootfsForge.Disks;
using RootfsForge.Partitions;
using Xunit;

namespace RootfsForge.NativeTests.Disks;

/// <summary>Root partition choice (docs/disk-formats.md §2.3) on sgdisk-made disks.</summary>
public sealed class RootSelectionTests
{
    /// <summary>Builds a GPT disk: each part is (sgdisk typecode, GPT name, size MiB, filesystem, fs label).</summary>
    private static PartitionTable Disk(string name, params (string Type, string? Name, int MiB, string Fs, string? Label)[] parts)
    {
        string dir = DiskFixtures.BuildSet("root-" + name, d =>
        {
            long total = 2 + parts.Sum(p => p.MiB) + 1;
            string disk = PartitionFixtures.NewDisk(d, "disk.raw", total << 20);
            var args = new List<string>();
            for (int i = 0; i < parts.Length; i++)
            {
                int n = i + 1;
                args.AddRange(["-n", $"{n}:0:+{parts[i].MiB}M", "-t", $"{n}:{parts[i].Type}"]);
                if (parts[i].Name is { } pn) args.AddRange(["-c", $"{n}:{pn}"]);
            }
            args.Add(disk);
            TestEnvironment.RunChecked("sgdisk", args);
            var layout = PartitionFixtures.Sfdisk(disk);
            for (int i = 0; i < parts.Length; i++)
            {
                var l = layout[i + 1];
                switch (parts[i].Fs)
                {
                    case "ext4": PartitionFixtures.WriteExt(disk, l.Start * 512, l.Size * 512, parts[i].Label, d); break;
                    case "vfat": PartitionFixtures.WriteVfat(disk, l.Start * 512, l.Size * 512, d); break;
                    case "xfs": PartitionFixtures.WriteXfsSuperblock(disk, l.Start * 512, d); break;
                    case "swap":
                    {
                        string swap = PartitionFixtures.NewDisk(d, "swap.img", l.Size * 512);
                        TestEnvironment.RunChecked("mkswap", ["-q", swap]);
                        PartitionFixtures.CopyInto(swap, disk, l.Start * 512);
                        File.Delete(swap);
                        break;
                    }
                }
            }
        });
        using var image = DiskImage.Open(Path.Combine(dir, "disk.raw"));
        return PartitionTable.Read(image);
    }

    [SkippableFact]
    public void DpsRootTypeWins()
    {
        PartitionFixtures.RequireTools();
        var table = Disk("dps", ("EF00", "esp", 2, "vfat", null), ("8300", "data", 6, "ext4", "data"), ("8304", null, 3, "ext4", null));
        var root = RootPartitionSelector.Select(table);
        Assert.Equal(3, root.Number);
        Assert.Equal("Linux root (x86-64)", root.TypeName);
    }

    [SkippableFact]
    public void LabelRootfsWinsOverSize()
    {
        PartitionFixtures.RequireTools();
        var table = Disk("label", ("8300", null, 6, "ext4", "data"), ("8300", null, 3, "ext4", "rootfs"));
        Assert.Equal(2, RootPartitionSelector.Select(table).Number);
    }

    [SkippableFact]
    public void LargestExtThenLooksLikeRoot()
    {
        PartitionFixtures.RequireTools();
        var table = Disk("largest", ("8300", null, 3, "ext4", "boot"), ("8300", null, 6, "ext4", null), ("8200", null, 2, "swap", null));
        Assert.Equal(FileSystemKind.Swap, table.Partitions[2].FileSystem);
        Assert.Equal(2, RootPartitionSelector.Select(table).Number);
        Assert.Equal(1, RootPartitionSelector.Select(table, looksLikeRoot: p => p.Number == 1).Number);
        Assert.Equal(2, RootPartitionSelector.Select(table, looksLikeRoot: _ => false).Number);
    }

    [SkippableFact]
    public void XfsOnlyIsReportedAsXfs()
    {
        PartitionFixtures.RequireTools();
        TestEnvironment.RequireTool("mkfs.xfs");
        var table = Disk("xfs", ("EF00", "esp", 2, "vfat", null), ("8300", null, 4, "xfs", null));
        Assert.Equal(FileSystemKind.Xfs, table.Partitions[1].FileSystem);
        Assert.Equal("xfsroot", table.Partitions[1].FileSystemLabel);
        var e = Assert.Throws<UnsupportedImageException>(() => RootPartitionSelector.Select(table));
        Assert.Equal("root partition 2 holds XFS (RHEL family / Amazon Linux images); only ext2/3/4 is supported", e.Reason);
    }

    [SkippableFact]
    public void NoExtListsWhatWasFound()
    {
        PartitionFixtures.RequireTools();
        var table = Disk("noext", ("EF00", "esp", 3, "vfat", null), ("8300", "empty", 2, "none", null));
        var e = Assert.ThrowsAny<ImageFormatException>(() => RootPartitionSelector.Select(table));
        Assert.IsNotType<UnsupportedImageException>(e);
        Assert.Equal(ImageErrorKind.Corrupt, e.Kind);
        Assert.Equal("partition table", e.Structure);
        // The message lists what was found, so the user can pick a partition.
        Assert.Contains("partition 1 (EFI System \"esp\", vfat", e.Message);
        Assert.Contains("partition 2 (Linux filesystem \"empty\", no known filesystem", e.Message);
    }

    [SkippableFact]
    public void PartitionNumberOverride()
    {
        PartitionFixtures.RequireTools();
        var table = Disk("override", ("EF00", "esp", 2, "vfat", null), ("8300", null, 3, "ext4", "a"), ("8300", null, 5, "ext4", "b"));
        Assert.Equal(3, RootPartitionSelector.Select(table).Number);
        Assert.Equal(2, RootPartitionSelector.Select(table, partitionNumber: 2).Number);
        // A partition that does not exist is the caller's mistake (the CLI's exit 2), not bad input.
        var missing = Assert.Throws<ArgumentException>(() => RootPartitionSelector.Select(table, partitionNumber: 7));
        Assert.Equal("partitionNumber", missing.ParamName);
        Assert.Contains("the disk has partition 1", missing.Message);
        var vfat = Assert.Throws<UnsupportedImageException>(() => RootPartitionSelector.Select(table, partitionNumber: 1));
        Assert.Equal(ImageErrorKind.Unsupported, vfat.Kind);
        Assert.Equal("partition", vfat.Structure);
        Assert.Equal(table.Partitions[0].Offset, vfat.Offset);
    }
}
