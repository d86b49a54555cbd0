using RootfsForge.Disks.Qcow2;
using Xunit;

namespace RootfsForge.NativeTests.Disks;

/// <summary>
/// The system libzstd decoder against the managed one (ZstdSharp) on the shapes a qcow2 zstd cluster can take: one frame,
/// several frames, trailing bytes of the next cluster's sector, truncated and corrupt input.
/// </summary>
public sealed class ZstdClusterTests
{
    private const int Cluster = 64 * 1024;

    private static byte[] Data(int length, int seed)
    {
        // Compressible but not trivial: words from a small vocabulary with random bytes mixed in.
        var random = new Random(seed);
        var data = new byte[length];
        for (int i = 0; i < length; i++) data[i] = random.Next(8) == 0 ? (byte)random.Next(256) : (byte)('a' + i / 7 % 26);
        return data;
    }

    private static byte[] Compress(ReadOnlySpan<byte> data)
    {
        using var compressor = new ZstdSharp.Compressor(3);
        return compressor.Wrap(data).ToArray();
    }

    public static TheoryData<string> Shapes => new() { "one frame", "two frames", "trailing bytes", "truncated", "corrupt" };

    private static byte[] Input(string shape)
    {
        var data = Data(Cluster, 7);
        return shape switch
        {
            "one frame" => Compress(data),
            "two frames" => [.. Compress(data.AsSpan(0, 20_000)), .. Compress(data.AsSpan(20_000))],
            "trailing bytes" => [.. Compress(data), .. Data(300, 9)],
            "truncated" => Compress(data)[..^200],
            "corrupt" => Corrupt(Compress(data)),
            _ => throw new ArgumentException(shape),
        };

        static byte[] Corrupt(byte[] b)
        {
            for (int i = b.Length / 2; i < b.Length / 2 + 64; i++) b[i] ^= 0x5A;
            return b;
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Shapes))]
    public void NativeDecoderAgreesWithManaged(string shape)
    {
        Skip.IfNot(ZstdCluster.NativeAvailable, "libzstd.so.1 is not installed (Debian: libzstd1); the managed decoder is used");
        var input = Input(shape);
        var managed = new byte[Cluster];
        var native = new byte[Cluster];
        var (managedCount, managedError) = Run(() => ZstdCluster.DecodeManaged(input, managed));
        var (nativeCount, nativeError) = Run(() => ZstdCluster.Decode(input, native));

        if (shape is "one frame" or "two frames" or "trailing bytes")
        {
            Assert.Null(managedError);
            Assert.Null(nativeError);
            Assert.Equal(Cluster, nativeCount);
            Assert.Equal(Data(Cluster, 7), native);
        }
        if (shape == "truncated")
        {
            // Both stop short of a full cluster (the caller reports that) or refuse the input.
            Assert.True(nativeError is not null || nativeCount < Cluster, $"native produced {nativeCount}");
            Assert.True(managedError is not null || managedCount < Cluster, $"managed produced {managedCount}");
        }
        if (shape == "corrupt")
        {
            Assert.True(nativeError is not null || nativeCount < Cluster || !native.AsSpan().SequenceEqual(Data(Cluster, 7)));
        }
        if (managedError is null && nativeError is null)
        {
            Assert.Equal(managedCount, nativeCount);
            Assert.Equal(managed.AsSpan(0, managedCount).ToArray(), native.AsSpan(0, nativeCount).ToArray());
        }
    }

    private static (int Count, Exception? Error) Run(Func<int> decode)
    {
        try
        {
            return (decode(), null);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return (0, e);
        }
    }
}
