using System.Text.Json;
using RootfsForge.NativeTests.Support;

namespace RootfsForge.NativeTests.Disks;

/// <summary>Disk images partitioned by sgdisk/sfdisk with filesystems made by mke2fs/mkfs.vfat/mkfs.xfs.</summary>
internal static class PartitionFixtures
{
    public static void RequireTools()
    {
        TestEnvironment.RequireTool("sgdisk");
        TestEnvironment.RequireTool("sfdisk");
        TestEnvironment.RequireTool("mke2fs");
    }

    /// <summary>Makes a filesystem image with mke2fs (or another mkfs) and copies it into the disk at a byte offset.</summary>
    public static void WriteExt(string disk, long offset, long length, string? label, string dir, string? uuid = null)
    {
        string fs = Path.Combine(dir, $"fs-{offset}.img");
        var args = new List<string> { "-q", "-F", "-t", "ext4" };
        if (label is not null) { args.Add("-L"); args.Add(label); }
        if (uuid is not null) { args.Add("-U"); args.Add(uuid); }
        args.Add(fs);
        args.Add($"{length / 1024}k");
        TestEnvironment.RunChecked("mke2fs", args);
        CopyInto(fs, disk, offset);
        File.Delete(fs);
    }

    public static void WriteVfat(string disk, long offset, long length, string dir)
    {
        string fs = Path.Combine(dir, $"vfat-{offset}.img");
        TestEnvironment.RunChecked("mkfs.vfat", ["-C", "-n", "EFI", fs, (length / 1024).ToString()]);
        CopyInto(fs, disk, offset);
        File.Delete(fs);
    }

    /// <summary>An XFS superblock from mkfs.xfs (300 MiB sparse minimum), copied (first 64 KiB) into the partition.</summary>
    public static void WriteXfsSuperblock(string disk, long offset, string dir)
    {
        string fs = Path.Combine(dir, $"xfs-{offset}.img");
        using (var f = File.Create(fs)) f.SetLength(320L << 20);
        TestEnvironment.RunChecked("mkfs.xfs", ["-q", "-f", "-L", "xfsroot", fs]);
        byte[] head = new byte[64 << 10];
        using (var f = File.OpenRead(fs)) f.ReadExactly(head);
        using (var d = new FileStream(disk, FileMode.Open, FileAccess.Write)) { d.Position = offset; d.Write(head); }
        File.Delete(fs);
    }

    public static void CopyInto(string source, string disk, long offset)
    {
        using var s = File.OpenRead(source);
        using var d = new FileStream(disk, FileMode.Open, FileAccess.Write);
        d.Position = offset;
        s.CopyTo(d);
    }

    public static string NewDisk(string dir, string name, long size)
    {
        string path = Path.Combine(dir, name);
        using (var f = File.Create(path)) f.SetLength(size);
        return path;
    }

    /// <summary>Ubuntu cloud image layout: p14 BIOS boot, p15 EFI (vfat), p1 ext4 "cloudimg-rootfs" over the rest.</summary>
    public static string UbuntuLike => Path.Combine(DiskFixtures.BuildSet("gpt-ubuntu", d =>
    {
        string disk = NewDisk(d, "disk.raw", 12L << 20);
        TestEnvironment.RunChecked("sgdisk", ["-n", "14:2048:+1M", "-t", "14:EF02", "-c", "14:BIOS boot",
            "-n", "15:0:+3M", "-t", "15:EF00", "-c", "15:UEFI", "-n", "1:0:0", "-t", "1:8300", "-c", "1:cloudimg-rootfs", disk]);
        var parts = Sfdisk(disk);
        WriteVfat(disk, parts[15].Start * 512, parts[15].Size * 512, d);
        WriteExt(disk, parts[1].Start * 512, parts[1].Size * 512, "cloudimg-rootfs", d, "8d5b0e39-5c2e-4d0b-9b3a-2f0c8f2f7a11");
    }), "disk.raw");

    public sealed record SfdiskPartition(int Number, long Start, long Size, string Type, string? Uuid, string? Name);

    /// <summary>sfdisk --json of a disk image, keyed by partition number (from the node name).</summary>
    public static Dictionary<int, SfdiskPartition> Sfdisk(string disk)
    {
        string json = TestEnvironment.RunChecked("sfdisk", ["--json", disk]);
        using var doc = JsonDocument.Parse(json);
        var result = new Dictionary<int, SfdiskPartition>();
        foreach (var p in doc.RootElement.GetProperty("partitiontable").GetProperty("partitions").EnumerateArray())
        {
            string node = p.GetProperty("node").GetString()!;
            int number = int.Parse(new string(node.Reverse().TakeWhile(char.IsDigit).Reverse().ToArray()));
            result[number] = new SfdiskPartition(number, p.GetProperty("start").GetInt64(), p.GetProperty("size").GetInt64(),
                p.GetProperty("type").GetString()!,
                p.TryGetProperty("uuid", out var u) ? u.GetString() : null,
                p.TryGetProperty("name", out var n) ? n.GetString() : null);
        }
        return result;
    }

    /// <summary>blkid's view (LABEL, UUID, TYPE) of the filesystem at a byte offset of a file.</summary>
    public static Dictionary<string, string> Blkid(string file, long offset)
    {
        var (code, output, _) = TestEnvironment.Run("blkid", ["-p", "-o", "export", "-O", offset.ToString(), file]);
        var result = new Dictionary<string, string>();
        if (code != 0) return result;
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = line.IndexOf('=');
            if (eq > 0) result[line[..eq]] = line[(eq + 1)..];
        }
        return result;
    }
}
