using System.Buffers.Binary;
using RootfsForge.NativeTests.Support;
using RootfsForge.Disks;
using Xunit;

namespace RootfsForge.NativeTests.Disks;

/// <summary>Images the reader must refuse with one precise <see cref="ImageFormatException"/> (spec §1.8).</summary>
public sealed class Qcow2RefusalTests
{
    private static string Copy(string source, string dir, string name)
    {
        string path = Path.Combine(dir, name);
        File.Copy(source, path, overwrite: true);
        return path;
    }

    private static void Patch(string path, long offset, ReadOnlySpan<byte> bytes)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        f.Position = offset;
        f.Write(bytes);
    }

    private static byte[] BigEndian64(ulong v)
    {
        var b = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(b, v);
        return b;
    }

    private static ImageFormatException OpenAndReadFails(string path, DiskImageOptions? options = null)
    {
        return Assert.ThrowsAny<ImageFormatException>(() =>
        {
            using var disk = DiskImage.Open(path, options);
            var buffer = new byte[1 << 20];
            for (long p = 0; p < disk.Length; p += buffer.Length) disk.ReadAt(p, buffer);
        });
    }

    [SkippableFact]
    public void LuksEncryptedImageIsRefused()
    {
        DiskFixtures.RequireQemu();
        string dir = DiskFixtures.BuildSet("luks", d => DiskFixtures.Qemu("qemu-img",
            ["create", "-f", "qcow2", "--object", "secret,id=sec0,data=x", "-o", "encrypt.format=luks,encrypt.key-secret=sec0",
             "luks.qcow2", "1M"], d));
        string image = Path.Combine(dir, "luks.qcow2");
        var e = Assert.Throws<UnsupportedImageException>(() => DiskImage.Open(image));
        Assert.Contains("encrypted (LUKS)", e.Message);
        Assert.Equal(image, e.ImagePath);
        Assert.Equal(32, e.Offset); // crypt_method
    }

    [SkippableFact]
    public void UnknownIncompatibleBitIsRefused()
    {
        DiskFixtures.RequireQemu();
        string dir = TestEnvironment.NewTempDir();
        string image = Copy(DiskFixtures.Convert("v3.qcow2", "-o", "compat=1.1"), dir, "bit5.qcow2");
        Patch(image, 79, [0x20]); // incompatible_features bit 5 (big-endian u64 at 72)
        var e = Assert.Throws<UnsupportedImageException>(() => DiskImage.Open(image));
        Assert.Contains("unknown incompatible feature bits 0x20", e.Message);
        Assert.Equal(72, e.Offset);
        Assert.Equal(image, e.ImagePath);
    }

    [SkippableFact]
    public void CompressionTypeBitWithoutTypeIsRefused()
    {
        DiskFixtures.RequireQemu();
        string dir = TestEnvironment.NewTempDir();
        string image = Copy(DiskFixtures.Convert("deflate.qcow2", "-c", "-o", "compression_type=zlib"), dir, "bit3.qcow2");
        Patch(image, 79, [0x08]);
        var e = Assert.ThrowsAny<ImageFormatException>(() => DiskImage.Open(image));
        Assert.Contains("incompatible bit 3 (compression type) is set but compression_type is 0", e.Message);
    }

    [SkippableFact]
    public void BackingLoopIsRefused()
    {
        DiskFixtures.RequireQemu();
        string dir = DiskFixtures.BuildSet("loop", d =>
        {
            DiskFixtures.Qemu("qemu-img", ["create", "-f", "qcow2", "b.qcow2", "1M"], d);
            DiskFixtures.Qemu("qemu-img", ["create", "-f", "qcow2", "-b", "b.qcow2", "-F", "qcow2", "a.qcow2", "1M"], d);
            DiskFixtures.Qemu("qemu-img", ["rebase", "-u", "-b", "a.qcow2", "-F", "qcow2", "b.qcow2"], d);
        });
        var e = Assert.ThrowsAny<ImageFormatException>(() => DiskImage.Open(Path.Combine(dir, "a.qcow2")));
        Assert.Contains("backing chain loops", e.Message);
        Assert.Contains("a.qcow2", e.Message);
    }

    [SkippableFact]
    public void TooDeepChainIsRefused()
    {
        DiskFixtures.RequireQemu();
        string top = Path.Combine(Qcow2ReadTests.BackingChain(), "top.qcow2");
        var e = Assert.ThrowsAny<ImageFormatException>(() => DiskImage.Open(top, new DiskImageOptions { MaxBackingDepth = 1 }));
        Assert.Contains("deeper than 1", e.Message);
        using var ok = DiskImage.Open(top, new DiskImageOptions { MaxBackingDepth = 2 });
        Assert.NotNull(ok.Backing?.Backing);
    }

    [SkippableFact]
    public void L1TablePastEndOfFileIsRefused()
    {
        DiskFixtures.RequireQemu();
        string dir = TestEnvironment.NewTempDir();
        string image = Copy(DiskFixtures.Convert("v3.qcow2", "-o", "compat=1.1"), dir, "l1.qcow2");
        long length = new FileInfo(image).Length;
        Patch(image, 40, BigEndian64((ulong)((length + (1 << 20)) & ~0xFFFFL)));
        var e = Assert.ThrowsAny<ImageFormatException>(() => DiskImage.Open(image));
        Assert.Contains("runs past the end", e.Message);
        Assert.Equal("qcow2 L1 table", e.Structure);
    }

    [SkippableFact]
    public void UnalignedL1TableIsRefused()
    {
        DiskFixtures.RequireQemu();
        string dir = TestEnvironment.NewTempDir();
        string image = Copy(DiskFixtures.Convert("v3.qcow2", "-o", "compat=1.1"), dir, "l1u.qcow2");
        Patch(image, 40, BigEndian64(0x30200));
        var e = Assert.ThrowsAny<ImageFormatException>(() => DiskImage.Open(image));
        Assert.Contains("not cluster-aligned", e.Message);
    }

    [SkippableFact]
    public void TooSmallL1IsRefused()
    {
        DiskFixtures.RequireQemu();
        string dir = TestEnvironment.NewTempDir();
        string image = Copy(DiskFixtures.Convert("cs512.qcow2", "-o", "cluster_size=512"), dir, "l1s.qcow2");
        Patch(image, 36, [0, 0, 0, 1]);
        var e = Assert.ThrowsAny<ImageFormatException>(() => DiskImage.Open(image));
        Assert.Contains("l1_size 1 is too small", e.Message);
    }

    [SkippableTheory]
    [InlineData(50)]      // inside the header
    [InlineData(200_000)] // inside the tables/data
    public void TruncatedFileIsRefused(int keep)
    {
        DiskFixtures.RequireQemu();
        string dir = TestEnvironment.NewTempDir();
        string image = Copy(DiskFixtures.Convert("zstd.qcow2", "-c", "-o", "compression_type=zstd"), dir, "trunc.qcow2");
        using (var f = new FileStream(image, FileMode.Open)) f.SetLength(keep);
        var e = OpenAndReadFails(image);
        Assert.Equal(image, e.ImagePath);
        Assert.Matches("too short|past the end|short read", e.Message);
    }

    [SkippableFact]
    public void InvalidSubclusterBitmapIsRefused()
    {
        DiskFixtures.RequireQemu();
        string dir = TestEnvironment.NewTempDir();
        string image = Copy(DiskFixtures.Convert("extl2.qcow2", "-o", "extended_l2=on,cluster_size=64k"), dir, "bitmap.qcow2");
        // First L2 table: from the first L1 entry; its first entry's bitmap gets bit 0 both allocated and zero.
        byte[] header = new byte[48];
        using (var f = File.OpenRead(image)) f.ReadExactly(header);
        long l1 = (long)BinaryPrimitives.ReadUInt64BigEndian(header.AsSpan(40));
        byte[] l1e = new byte[8];
        using (var f = File.OpenRead(image)) { f.Position = l1; f.ReadExactly(l1e); }
        long l2 = (long)(BinaryPrimitives.ReadUInt64BigEndian(l1e) & 0x00FFFFFFFFFFFE00);
        Patch(image, l2 + 8, BigEndian64(0x0000_0001_FFFF_FFFF));
        var e = OpenAndReadFails(image);
        Assert.Contains("both allocated and zero", e.Message);
        Assert.Equal(l2, e.Offset);
    }
}
