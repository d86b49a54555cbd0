using RootfsForge.NativeTests.Support;
using RootfsForge.Disks;
using Xunit;

namespace RootfsForge.NativeTests.Disks;

/// <summary>qcow2 variants written by qemu-img/qemu-io, compared byte for byte with <c>qemu-img convert -O raw</c> and
/// allocation-wise with <c>qemu-img map</c>.</summary>
public sealed class Qcow2ReadTests
{
    public static TheoryData<string> ConvertedVariants => new()
    {
        "v2", "v3", "deflate", "zstd", "zstd-extl2", "extl2", "cs512", "cs512-deflate", "cs4k-zstd", "cs2m-deflate",
        "cs2m-zstd-extl2",
    };

    private static string Variant(string name) => name switch
    {
        "v2" => DiskFixtures.Convert("v2.qcow2", "-o", "compat=0.10"),
        "v3" => DiskFixtures.Convert("v3.qcow2", "-o", "compat=1.1"),
        "deflate" => DiskFixtures.Convert("deflate.qcow2", "-c", "-o", "compression_type=zlib"),
        "zstd" => DiskFixtures.Convert("zstd.qcow2", "-c", "-o", "compression_type=zstd"),
        "zstd-extl2" => DiskFixtures.Convert("zstd-extl2.qcow2", "-c", "-o", "compression_type=zstd,extended_l2=on"),
        "extl2" => DiskFixtures.Convert("extl2.qcow2", "-o", "extended_l2=on,cluster_size=64k"),
        "cs512" => DiskFixtures.Convert("cs512.qcow2", "-o", "cluster_size=512"),
        "cs512-deflate" => DiskFixtures.Convert("cs512-deflate.qcow2", "-c", "-o", "cluster_size=512,compression_type=zlib"),
        "cs4k-zstd" => DiskFixtures.Convert("cs4k-zstd.qcow2", "-c", "-o", "cluster_size=4k,compression_type=zstd"),
        "cs2m-deflate" => DiskFixtures.Convert("cs2m-deflate.qcow2", "-c", "-o", "cluster_size=2M,compression_type=zlib"),
        "cs2m-zstd-extl2" => DiskFixtures.Convert("cs2m-zstd-extl2.qcow2", "-c", "-o",
            "cluster_size=2M,compression_type=zstd,extended_l2=on"),
        _ => throw new ArgumentException(name),
    };

    [SkippableTheory]
    [MemberData(nameof(ConvertedVariants))]
    public void ConvertedImageMatchesQemu(string variant)
    {
        DiskFixtures.RequireQemu();
        string image = Variant(variant);
        using var disk = DiskImage.Open(image);
        Assert.Equal("qcow2", disk.Format);
        Assert.Equal(DiskFixtures.SourceSize, disk.Length);
        OracleAssert.SameBytes(disk, DiskFixtures.OracleRaw(image), seed: variant.GetHashCode() & 0xFFFF);
        OracleAssert.SameAllocation(disk, image);
        Assert.Empty(disk.Warnings);
    }

    [SkippableFact]
    public void CompressedImagesReallyUseTheirCompression()
    {
        DiskFixtures.RequireQemu();
        using var zstd = (Qcow2DiskImage)DiskImage.Open(Variant("zstd"));
        using var deflate = (Qcow2DiskImage)DiskImage.Open(Variant("deflate"));
        using var v2 = (Qcow2DiskImage)DiskImage.Open(Variant("v2"));
        using var ext = (Qcow2DiskImage)DiskImage.Open(Variant("cs2m-zstd-extl2"));
        Assert.Equal("zstd", zstd.CompressionType);
        Assert.Equal("deflate", deflate.CompressionType);
        Assert.Equal(2, v2.Version);
        Assert.Equal(3, zstd.Version);
        Assert.True(ext.HasExtendedL2);
        Assert.Equal(2 << 20, ext.ClusterSize);
        // The compressed images must be smaller than the plain one, or the fixture did not compress anything.
        Assert.True(new FileInfo(zstd.Path).Length < new FileInfo(Variant("v3")).Length / 2);
    }

    /// <summary>Zero clusters (with and without an allocation), compressed writes and partial writes via qemu-io.</summary>
    [SkippableTheory]
    [InlineData("compat=1.1")]
    [InlineData("compat=1.1,extended_l2=on")]
    [InlineData("compat=0.10")]
    public void QemuIoWrittenImageMatchesQemu(string options)
    {
        DiskFixtures.RequireQemu();
        string dir = DiskFixtures.BuildSet("qemu-io-" + options.Replace(',', '-').Replace('=', '_'), d =>
        {
            string img = Path.Combine(d, "img.qcow2");
            DiskFixtures.Qemu("qemu-img", ["create", "-f", "qcow2", "-o", options, img, "4M"]);
            DiskFixtures.QemuIo(img,
                "write -P 0xAB 0 64k",
                "write -z 64k 64k",
                "write -c -P 0xCD 128k 64k",
                "write -P 0x11 200k 3k",      // partial cluster: subclusters with extended L2
                "write -P 0x22 1M 1M",
                "write -z 1M 8k",             // zero-alloc: zero flag on an allocated cluster / zero subclusters
                "write -z -u 1536k 64k",      // unmapped zero cluster
                "write -P 0x33 3M 512",
                "write -P 0x44 4193792 512"); // the last sector
        });
        string image = Path.Combine(dir, "img.qcow2");
        using var disk = DiskImage.Open(image);
        OracleAssert.SameBytes(disk, DiskFixtures.OracleRaw(image), seed: 7);
        OracleAssert.SameAllocation(disk, image);
    }

    /// <summary>qcow2 → qcow2 → raw, the raw base shorter than the overlays; reads fall through and past the base's end.</summary>
    [SkippableFact]
    public void BackingChainMatchesQemu()
    {
        DiskFixtures.RequireQemu();
        string dir = BackingChain();
        string top = Path.Combine(dir, "top.qcow2");
        using var disk = DiskImage.Open(top);
        Assert.NotNull(disk.Backing);
        Assert.Equal("qcow2", disk.Backing!.Format);
        Assert.Equal("raw", disk.Backing.Backing!.Format);
        Assert.Null(disk.Backing.Backing.Backing);
        Assert.True(disk.Backing.Backing.Length < disk.Length);
        OracleAssert.SameBytes(disk, DiskFixtures.OracleRaw(top), seed: 11);
        OracleAssert.SameAllocation(disk, top);
    }

    internal static string BackingChain() => DiskFixtures.BuildSet("chain", d =>
    {
        string basePath = Path.Combine(d, "base.raw");
        using (var f = new FileStream(basePath, FileMode.Create))
        {
            var data = new byte[1 << 20];
            new Random(5).NextBytes(data);
            f.Write(data);
            f.Write(new byte[64 << 10]); // explicit zeros
            f.SetLength((1 << 20) + (256 << 10)); // then a hole to the end
        }
        DiskFixtures.Qemu("qemu-img", ["create", "-f", "qcow2", "-b", "base.raw", "-F", "raw", "mid.qcow2", "4M"], d);
        DiskFixtures.QemuIo(Path.Combine(d, "mid.qcow2"), "write -P 0x55 64k 64k", "write -z 256k 64k",
            "write -c -P 0x66 2M 64k");
        DiskFixtures.Qemu("qemu-img", ["create", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", "top.qcow2", "4M"], d);
        DiskFixtures.QemuIo(Path.Combine(d, "top.qcow2"), "write -P 0x77 96k 64k", "write -z 512k 64k",
            "write -P 0x88 3M 4k");
    });

    [SkippableTheory]
    [InlineData(true)]
    [InlineData(false)]
    public void ExternalDataFileMatchesQemu(bool raw)
    {
        DiskFixtures.RequireQemu();
        string dir = DiskFixtures.BuildSet(raw ? "datafile-raw" : "datafile", d =>
        {
            DiskFixtures.Qemu("qemu-img", ["create", "-f", "qcow2", "-o",
                $"data_file=data.bin,data_file_raw={(raw ? "on" : "off")}", "img.qcow2", "4M"], d);
            DiskFixtures.QemuIo(Path.Combine(d, "img.qcow2"), "write -P 0x5A 0 100k", "write -z 512k 64k",
                "write -P 0x5B 2M 64k");
        });
        string image = Path.Combine(dir, "img.qcow2");
        using var disk = (Qcow2DiskImage)DiskImage.Open(image);
        Assert.EndsWith("data.bin", disk.ExternalDataFile);
        OracleAssert.SameBytes(disk, DiskFixtures.OracleRaw(image), seed: 13);
        OracleAssert.SameAllocation(disk, image);
    }

    /// <summary>An internal snapshot (qemu-img snapshot -c) then more writes: the active L1 table is what is read.</summary>
    [SkippableFact]
    public void ImageWithInternalSnapshotReadsActiveLayer()
    {
        DiskFixtures.RequireQemu();
        string dir = DiskFixtures.BuildSet("snapshot", d =>
        {
            string img = Path.Combine(d, "img.qcow2");
            DiskFixtures.Qemu("qemu-img", ["create", "-f", "qcow2", img, "2M"]);
            DiskFixtures.QemuIo(img, "write -P 0x01 0 1M");
            DiskFixtures.Qemu("qemu-img", ["snapshot", "-c", "s1", img]);
            DiskFixtures.QemuIo(img, "write -P 0x02 64k 128k", "write -z 512k 64k");
        });
        string image = Path.Combine(dir, "img.qcow2");
        using var disk = DiskImage.Open(image);
        OracleAssert.SameBytes(disk, DiskFixtures.OracleRaw(image), seed: 19);
        OracleAssert.SameAllocation(disk, image);
        var b = new byte[1];
        disk.ReadExactlyAt(64 << 10, b);
        Assert.Equal(0x02, b[0]);
    }

    [SkippableFact]
    public void RawImageMatchesFileAndHoles()
    {
        DiskFixtures.RequireQemu();
        using var disk = DiskImage.Open(DiskFixtures.SourceRaw);
        Assert.Equal("raw", disk.Format);
        OracleAssert.SameBytes(disk, DiskFixtures.SourceRaw, seed: 3);
        OracleAssert.SameAllocation(disk, DiskFixtures.SourceRaw);
    }

    /// <summary>Many threads reading random ranges at once, with a tiny cache, must see exactly the oracle's bytes.</summary>
    [SkippableFact]
    public void ParallelReadsWithSmallCacheAreConsistent()
    {
        DiskFixtures.RequireQemu();
        string image = Variant("cs4k-zstd");
        byte[] oracle = File.ReadAllBytes(DiskFixtures.OracleRaw(image));
        using var disk = DiskImage.Open(image, new DiskImageOptions { CacheBytes = 64 << 10, ReadAheadClusters = 8 });
        disk.Prefetch(0, disk.Length);
        Parallel.For(0, 8, t =>
        {
            var rng = new Random(100 + t);
            var buffer = new byte[200_000];
            for (int i = 0; i < 200; i++)
            {
                long offset = rng.NextInt64(disk.Length);
                int length = rng.Next(1, buffer.Length);
                int n = disk.ReadAt(offset, buffer.AsSpan(0, length));
                Assert.Equal((int)Math.Min(length, disk.Length - offset), n);
                Assert.True(buffer.AsSpan(0, n).SequenceEqual(oracle.AsSpan((int)offset, n)), $"mismatch at {offset}+{n}");
            }
        });
    }

    /// <summary>Reading through a sequential stream (which triggers read-ahead) equals the oracle.</summary>
    [SkippableTheory]
    [InlineData("zstd", false)]
    [InlineData("zstd", true)]
    [InlineData("cs512-deflate", true)]
    [InlineData("cs2m-zstd-extl2", true)]
    public void SequentialStreamWithReadAheadMatchesOracle(string variant, bool prefetchAll)
    {
        DiskFixtures.RequireQemu();
        string image = Variant(variant);
        using var disk = DiskImage.Open(image, new DiskImageOptions { ReadAheadClusters = 16, CacheBytes = 1 << 20 });
        if (prefetchAll) disk.Prefetch(0, disk.Length);
        using var stream = disk.AsStream();
        using var oracle = File.OpenRead(DiskFixtures.OracleRaw(image));
        var a = new byte[4096];
        var b = new byte[4096];
        long total = 0;
        int n;
        while ((n = stream.Read(a)) > 0)
        {
            oracle.ReadExactly(b.AsSpan(0, n));
            Assert.True(a.AsSpan(0, n).SequenceEqual(b.AsSpan(0, n)), $"mismatch in block at {total}");
            total += n;
        }
        Assert.Equal(disk.Length, total);
    }
}
