using System.Buffers.Binary;
using RootfsForge.NativeTests.Support;
using RootfsForge.Disks;
using Xunit;

namespace RootfsForge.NativeTests.Disks;

/// <summary>
/// Seeded, bounded corruption of a small compressed image: every open/read either succeeds or throws
/// <see cref="ImageFormatException"/>; nothing else, no hang (each case under a timeout), bounded allocation.
/// </summary>
public sealed class Qcow2CorruptionTests
{
    private static string SmallImage(string compression, string extra) => DiskFixtures.BuildSet("corrupt-base-" + compression + extra, d =>
    {
        DiskFixtures.Qemu("qemu-img", ["create", "-f", "qcow2", "-o", $"cluster_size=4k{extra}", "src.qcow2", "1M"], d);
        DiskFixtures.QemuIo(Path.Combine(d, "src.qcow2"), "write -P 0xAB 0 64k", "write -z 64k 64k", "write -P 0x5C 300k 200k",
            "write -P 0x11 900k 4k");
        DiskFixtures.Qemu("qemu-img", ["convert", "-c", "-O", "qcow2", "-o",
            $"compression_type={compression},cluster_size=4k{extra}", "src.qcow2", "small.qcow2"], d);
    });

    [SkippableTheory]
    [InlineData("zstd", "", 1)]
    [InlineData("zlib", "", 2)]
    [InlineData("zstd", ",extended_l2=on,cluster_size=16k", 3)]
    public void CorruptedImagesFailCleanly(string compression, string extra, int seed)
    {
        DiskFixtures.RequireQemu();
        string dir = SmallImage(compression, extra.Replace(",cluster_size=4k", ""));
        string pristinePath = Path.Combine(dir, "small.qcow2");
        byte[] pristine = File.ReadAllBytes(pristinePath);
        long l1 = (long)BinaryPrimitives.ReadUInt64BigEndian(pristine.AsSpan(40));
        long l2 = (long)(BinaryPrimitives.ReadUInt64BigEndian(pristine.AsSpan((int)l1)) & 0x00FFFFFFFFFFFE00);
        int clusterSize = 1 << (int)BinaryPrimitives.ReadUInt32BigEndian(pristine.AsSpan(20));
        string work = TestEnvironment.NewTempDir();
        var rng = new Random(seed);
        int succeeded = 0, refused = 0;
        for (int c = 0; c < 120; c++)
        {
            byte[] bytes = (byte[])pristine.Clone();
            int length = bytes.Length;
            int mutations = 1 + rng.Next(4);
            for (int m = 0; m < mutations; m++)
            {
                int region = rng.Next(5);
                long at = region switch
                {
                    0 => rng.Next(112),                                      // header
                    1 => l1 + rng.Next(64),                                  // L1 table
                    2 => l2 + rng.Next(Math.Min(clusterSize, 2048)),         // L2 table
                    3 => rng.Next(clusterSize, bytes.Length),                // anywhere past the header cluster
                    _ => -1,                                                 // truncation
                };
                if (at < 0) length = rng.Next(length);
                else if (at < bytes.Length) bytes[at] ^= (byte)(1 << rng.Next(8));
            }
            string path = Path.Combine(work, $"case{c}.qcow2");
            File.WriteAllBytes(path, bytes.AsSpan(0, length).ToArray());

            var run = Task.Run(() => ReadEverything(path));
            Assert.True(run.Wait(TimeSpan.FromSeconds(20)), $"case {c} (seed {seed}) hung");
            var outcome = run.Result;
            if (outcome is null) succeeded++;
            else if (outcome is ImageFormatException) refused++;
            else Assert.Fail($"case {c} (seed {seed}) threw {outcome.GetType().Name}: {outcome}");
        }
        // Both outcomes must occur, or the mutations are not reaching the structures.
        Assert.True(refused > 0, "no case was refused");
        Assert.True(succeeded > 0, "no case was read");
        Directory.Delete(work, true);
    }

    private static Exception? ReadEverything(string path)
    {
        long before = GC.GetTotalAllocatedBytes(precise: false);
        try
        {
            using var disk = DiskImage.Open(path, new DiskImageOptions { CacheBytes = 256 << 10 });
            disk.Prefetch(0, disk.Length);
            var buffer = new byte[256 << 10];
            long end = Math.Min(disk.Length, 64L << 20);
            for (long p = 0; p < end; p += buffer.Length)
                disk.ReadAt(p, buffer);
            disk.GetAllocatedRanges(0, end);
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
        finally
        {
            long allocated = GC.GetTotalAllocatedBytes(precise: false) - before;
            Assert.True(allocated < 1L << 30, $"allocated {allocated} bytes for one small image");
        }
    }
}
