using System.Buffers.Binary;
using RootfsForge.NativeTests.Support;
using RootfsForge.Disks;
using Xunit;

namespace RootfsForge.NativeTests.Disks;

/// <summary>
/// Images the reader must refuse with one precise <see cref="ImageFormatException"/> (docs/disk-formats.md §1.8).
/// </summary>
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
        Assert.Equal(ImageErrorKind.Unsupported, e.Kind);
        Assert.Equal("qcow2 header", e.Structure);
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
        Assert.Equal(ImageErrorKind.Unsupported, e.Kind);
        Assert.Equal("qcow2 header", e.Structure);
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
        Assert.Equal(ImageErrorKind.Corrupt, e.Kind);
        Assert.Equal("qcow2 header", e.Structure);
        Assert.Equal(104, e.Offset); // compression_type
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
        Assert.Equal(ImageErrorKind.Loop, e.Kind);
        Assert.Equal("qcow2 backing chain", e.Structure);
        Assert.Equal(Path.Combine(dir, "a.qcow2"), e.ImagePath);
    }

    [SkippableFact]
    public void TooDeepChainIsRefused()
    {
        DiskFixtures.RequireQemu();
        string top = Path.Combine(Qcow2ReadTests.BackingChain(), "top.qcow2");
        var e = Assert.ThrowsAny<ImageFormatException>(() => DiskImage.Open(top, new DiskImageOptions { MaxBackingDepth = 1 }));
        Assert.Equal(ImageErrorKind.LimitExceeded, e.Kind);
        Assert.Equal("qcow2 backing chain", e.Structure);
        Assert.EndsWith("base.raw", e.ImagePath);
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
        ulong l1 = (ulong)((length + (1 << 20)) & ~0xFFFFL);
        Patch(image, 40, BigEndian64(l1));
        var e = Assert.ThrowsAny<ImageFormatException>(() => DiskImage.Open(image));
        Assert.Equal(ImageErrorKind.Truncated, e.Kind);
        Assert.Equal("qcow2 L1 table", e.Structure);
        Assert.Equal((long)l1, e.Offset);
    }

    [SkippableFact]
    public void UnalignedL1TableIsRefused()
    {
        DiskFixtures.RequireQemu();
        string dir = TestEnvironment.NewTempDir();
        string image = Copy(DiskFixtures.Convert("v3.qcow2", "-o", "compat=1.1"), dir, "l1u.qcow2");
        Patch(image, 40, BigEndian64(0x30200));
        var e = Assert.ThrowsAny<ImageFormatException>(() => DiskImage.Open(image));
        Assert.Equal(ImageErrorKind.Corrupt, e.Kind);
        Assert.Equal("qcow2 L1 table", e.Structure);
        Assert.Equal(0x30200, e.Offset);
    }

    [SkippableFact]
    public void TooSmallL1IsRefused()
    {
        DiskFixtures.RequireQemu();
        string dir = TestEnvironment.NewTempDir();
        string image = Copy(DiskFixtures.Convert("cs512.qcow2", "-o", "cluster_size=512"), dir, "l1s.qcow2");
        Patch(image, 36, [0, 0, 0, 1]);
        var e = Assert.ThrowsAny<ImageFormatException>(() => DiskImage.Open(image));
        Assert.Equal(ImageErrorKind.Corrupt, e.Kind);
        Assert.Equal("qcow2 header", e.Structure);
        Assert.Equal(36, e.Offset); // l1_size
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
        Assert.Equal(ImageErrorKind.Truncated, e.Kind);
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
        Assert.Equal(ImageErrorKind.Corrupt, e.Kind);
        Assert.Equal("qcow2 L2 entry", e.Structure);
        Assert.Equal(l2, e.Offset);
    }
    private static (long L1, long L2) Tables(string image)
    {
        byte[] header = new byte[48];
        using var f = File.OpenRead(image);
        f.ReadExactly(header);
        long l1 = (long)BinaryPrimitives.ReadUInt64BigEndian(header.AsSpan(40));
        byte[] entry = new byte[8];
        f.Position = l1;
        f.ReadExactly(entry);
        return (l1, (long)(BinaryPrimitives.ReadUInt64BigEndian(entry) & 0x00FFFFFFFFFFFE00));
    }

    private static ulong ReadU64(string path, long offset)
    {
        byte[] b = new byte[8];
        using var f = File.OpenRead(path);
        f.Position = offset;
        f.ReadExactly(b);
        return BinaryPrimitives.ReadUInt64BigEndian(b);
    }

    /// <summary>qemu-img check, the oracle that the patched entry really breaks the spec: it must report errors.</summary>
    private static void QemuCheckReports(string image, string expected)
    {
        var (code, stdout, stderr) = TestEnvironment.Run("qemu-img", ["check", image]);
        Assert.True(code != 0 && (stdout + stderr).Contains(expected, StringComparison.OrdinalIgnoreCase),
            $"qemu-img check exit {code}: {stdout}{stderr}");
    }

    /// <summary>
    /// L1 entries: bits 0–8 and 56–62 are reserved (docs/disk-formats.md §1.4); they were once accepted.
    /// </summary>
    [SkippableTheory]
    [InlineData(0, 1UL << 0)]
    [InlineData(0, 1UL << 8)]
    [InlineData(0, 1UL << 56)]
    [InlineData(0, 1UL << 62)]
    public void L1EntryWithReservedBitsIsRefused(int index, ulong bit)
    {
        DiskFixtures.RequireQemu();
        string dir = TestEnvironment.NewTempDir();
        string image = Copy(DiskFixtures.Convert("v3.qcow2", "-o", "compat=1.1"), dir, "l1r.qcow2");
        var (l1, _) = Tables(image);
        long at = l1 + index * 8L;
        Patch(image, at, BigEndian64(ReadU64(image, at) | bit));
        QemuCheckReports(image, "L1 entry with reserved bits set");
        var e = Assert.ThrowsAny<ImageFormatException>(() => DiskImage.Open(image));
        Assert.Equal(ImageErrorKind.Corrupt, e.Kind);
        Assert.Equal("qcow2 L1 table", e.Structure);
        Assert.Equal(at, e.Offset);
        Assert.Contains($"L1 entry {index} ", e.Message);
    }

    /// <summary>
    /// Standard L2 descriptors: bits 1–8 and 56–61 are reserved, with and without extended L2
    /// (docs/disk-formats.md §1.4, §1.6).
    /// </summary>
    [SkippableTheory]
    [InlineData("v3.qcow2", "compat=1.1", 1UL << 1)]
    [InlineData("v3.qcow2", "compat=1.1", 1UL << 61)]
    [InlineData("extl2.qcow2", "extended_l2=on,cluster_size=64k", 1UL << 5)]
    public void L2EntryWithReservedBitsIsRefused(string fixture, string options, ulong bit)
    {
        DiskFixtures.RequireQemu();
        string dir = TestEnvironment.NewTempDir();
        string image = Copy(DiskFixtures.Convert(fixture, "-o", options), dir, "l2r.qcow2");
        var (_, l2) = Tables(image);
        Patch(image, l2, BigEndian64(ReadU64(image, l2) | bit));
        QemuCheckReports(image, "L2 entry with reserved bits set");
        var e = OpenAndReadFails(image);
        Assert.Equal(ImageErrorKind.Corrupt, e.Kind);
        Assert.Equal("qcow2 L2 table", e.Structure);
        Assert.Equal(l2, e.Offset);
    }

    /// <summary>
    /// A refcount block past the end of the file: the file was cut short (docs/disk-formats.md §1.8).
    /// </summary>
    [SkippableFact]
    public void RefcountBlockPastTheEndIsTruncated()
    {
        DiskFixtures.RequireQemu();
        string dir = TestEnvironment.NewTempDir();
        string image = Copy(DiskFixtures.Convert("v3.qcow2", "-o", "compat=1.1"), dir, "rc.qcow2");
        long table = (long)ReadU64(image, 48);
        long length = new FileInfo(image).Length;
        ulong past = (ulong)((length + (1 << 20)) & ~0xFFFFL);
        Patch(image, table, BigEndian64(past));
        QemuCheckReports(image, "outside image");
        var e = Assert.ThrowsAny<ImageFormatException>(() => DiskImage.Open(image));
        Assert.Equal(ImageErrorKind.Truncated, e.Kind);
        Assert.Equal("qcow2 refcount table", e.Structure);
        Assert.Equal(table, e.Offset);
    }
}
