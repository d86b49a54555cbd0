using System.Buffers.Binary;
using RootfsForge.NativeTests.Support;
using RootfsForge.Disks;
using Xunit;

namespace RootfsForge.NativeTests.Disks;

/// <summary>Header bits that warn, backing format probing, and a second qcow2 writer (e2image -Q).</summary>
public sealed class Qcow2HeaderTests
{
    [SkippableTheory]
    [InlineData(0x01, "dirty bit")]
    [InlineData(0x02, "corrupt bit")]
    public void DirtyAndCorruptBitsWarn(byte bit, string expected)
    {
        DiskFixtures.RequireQemu();
        string dir = TestEnvironment.NewTempDir();
        string source = DiskFixtures.Convert("v3.qcow2", "-o", "compat=1.1");
        string image = Path.Combine(dir, "flagged.qcow2");
        File.Copy(source, image);
        using (var f = new FileStream(image, FileMode.Open)) { f.Position = 79; f.WriteByte(bit); }
        using var disk = DiskImage.Open(image);
        var warning = Assert.Single(disk.Warnings);
        Assert.Contains(expected, warning);
        OracleAssert.SameBytes(disk, DiskFixtures.OracleRaw(source), seed: 21);
    }

    /// <summary>Without the backing-format extension the backing file's format is probed (qcow2 magic, else raw).</summary>
    [SkippableFact]
    public void BackingFormatIsProbedWithoutExtension()
    {
        DiskFixtures.RequireQemu();
        string chain = Qcow2ReadTests.BackingChain();
        string dir = TestEnvironment.NewTempDir();
        foreach (var name in new[] { "base.raw", "mid.qcow2", "top.qcow2" })
            File.Copy(Path.Combine(chain, name), Path.Combine(dir, name));
        foreach (var name in new[] { "mid.qcow2", "top.qcow2" })
        {
            string path = Path.Combine(dir, name);
            byte[] bytes = File.ReadAllBytes(path);
            int at = FindExtension(bytes, 0xE2792ACA);
            Assert.True(at > 0, $"{name} has no backing format extension");
            BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(at), 0x12345678); // now an unknown, ignored extension
            File.WriteAllBytes(path, bytes);
        }
        using var disk = DiskImage.Open(Path.Combine(dir, "top.qcow2"));
        Assert.Equal("qcow2", disk.Backing!.Format);
        Assert.Equal("raw", disk.Backing.Backing!.Format);
        OracleAssert.SameBytes(disk, DiskFixtures.OracleRaw(Path.Combine(chain, "top.qcow2")), seed: 5);
    }

    private static int FindExtension(byte[] bytes, uint type)
    {
        int pos = (int)BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(100)); // header_length
        while (pos + 8 <= 65536)
        {
            uint t = BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(pos));
            if (t == type) return pos;
            if (t == 0) return -1;
            pos += 8 + (int)((BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(pos + 4)) + 7) & ~7u);
        }
        return -1;
    }

    /// <summary>e2image -Q writes version 2 qcow2 files with its own code: a second, non-qemu writer.</summary>
    [SkippableFact]
    public void E2imageQcow2MatchesQemu()
    {
        DiskFixtures.RequireQemu();
        TestEnvironment.RequireTool("e2image");
        TestEnvironment.RequireTool("mke2fs");
        string dir = DiskFixtures.BuildSet("e2image", d =>
        {
            string src = Path.Combine(d, "src");
            Directory.CreateDirectory(Path.Combine(src, "etc"));
            File.WriteAllText(Path.Combine(src, "etc", "os-release"), "ID=test\n");
            var rng = new Random(9);
            var blob = new byte[300_000];
            rng.NextBytes(blob);
            File.WriteAllBytes(Path.Combine(src, "blob"), blob);
            TestEnvironment.RunChecked("mke2fs", ["-q", "-F", "-t", "ext4", "-d", src, Path.Combine(d, "fs.img"), "8M"]);
            TestEnvironment.RunChecked("e2image", ["-Q", Path.Combine(d, "fs.img"), Path.Combine(d, "fs.qcow2")]);
        });
        string image = Path.Combine(dir, "fs.qcow2");
        using var disk = DiskImage.Open(image);
        Assert.Equal("qcow2", disk.Format);
        OracleAssert.SameBytes(disk, DiskFixtures.OracleRaw(image), seed: 17);
        OracleAssert.SameAllocation(disk, image);
    }
}
