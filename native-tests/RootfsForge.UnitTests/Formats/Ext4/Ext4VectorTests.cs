using RootfsForge.Ext4;
using RootfsForge.Tree;
using Xunit;

namespace RootfsForge.NativeTests.Ext4;

/// <summary>The decoding vectors of docs/disk-formats.md §3.7, §3.8, §3.10, §3.11.</summary>
public class Ext4VectorTests
{
    [Fact]
    public void Timestamp2345UsesEpochBits()
    {
        // docs/disk-formats.md §3.10: 11 847 456 550 (2345-06-07 08:09:10 UTC) = base 0xC229D726 (−1 037 445 338) with
        // epoch bits 3.
        var t = Ext4Time.Decode(unchecked((int)0xC229D726), 3);
        Assert.Equal(11_847_456_550L, t.Seconds);
        Assert.Equal(0u, t.Nanoseconds);
        Assert.Equal(new DateTimeOffset(2345, 6, 7, 8, 9, 10, TimeSpan.Zero).ToUnixTimeSeconds(), t.Seconds);
    }

    [Fact]
    public void TimestampBefore1970AndNanoseconds()
    {
        long s1960 = new DateTimeOffset(1960, 3, 4, 5, 6, 7, TimeSpan.Zero).ToUnixTimeSeconds();
        var t = Ext4Time.Decode((int)s1960, (123456789u << 2) | 0);
        Assert.Equal(s1960, t.Seconds);
        Assert.Equal(123456789u, t.Nanoseconds);
        // 2038-01-19 03:14:08 is the first second past int32: base wraps negative, epoch bits 1.
        var t2038 = Ext4Time.Decode(int.MinValue, 1);
        Assert.Equal(2147483648L, t2038.Seconds);
    }

    [Fact]
    public void TimestampWithoutExtraFieldIsSigned32()
    {
        byte[] raw = new byte[128];
        BitConverter.TryWriteBytes(raw.AsSpan(0x10), -1);
        var t = Ext4Time.Decode(raw, 0x10, 0x88, 128); // 128-byte inode: extra field absent
        Assert.Equal(-1L, t.Seconds);
    }

    [Theory]
    [InlineData(0x0103u, 0u, 1u, 3u)]
    [InlineData(0x0706u, 0u, 7u, 6u)]
    [InlineData(0u, 0x000FFD00u, 4093u, 0u)]
    [InlineData(0u, 0xF9F000FDu, 0u, 1023997u)]
    public void DeviceNumbers(uint block0, uint block1, uint major, uint minor)
    {
        Assert.Equal((major, minor), DeviceNumber.Decode(block0, block1));
        byte[] area = new byte[60];
        BitConverter.TryWriteBytes(area.AsSpan(0), block0);
        BitConverter.TryWriteBytes(area.AsSpan(4), block1);
        Assert.Equal((major, minor), DeviceNumber.Decode(area));
    }

    [Fact]
    public void PosixAclV1ToV2()
    {
        byte[] disk = Convert.FromHexString("01000000" + "01000600" + "0200040008000000" + "04000400" + "10000400" + "20000400");
        byte[] expected = Convert.FromHexString("02000000" + "01000600ffffffff" + "0200040008000000" + "04000400ffffffff"
            + "10000400ffffffff" + "20000400ffffffff");
        Assert.Equal(28, disk.Length);
        Assert.Equal(expected, PosixAcl.DiskToXattr(disk));
        Assert.Null(PosixAcl.DiskToXattr(Convert.FromHexString("02000000")));
        Assert.Null(PosixAcl.DiskToXattr(Convert.FromHexString("0100000002000400")));
    }

    [Theory]
    [InlineData(12, 4096, 12)]
    [InlineData(4096, 4096, 4096)]
    [InlineData(0, 65536, 65536)]
    [InlineData(65535, 65536, 65536)]
    [InlineData(65532 | 1, 65536, 65532 | 0x10000)]
    [InlineData(12, 65536, 12)]
    public void RecLenDecoding(int stored, int blockSize, int expected) =>
        Assert.Equal(expected, DirectoryEntry.DecodeRecLen((ushort)stored, blockSize));

    [Fact]
    public void DirentParserStopsOnBadRecLen()
    {
        // One valid entry "a" -> inode 12, then an entry with rec_len 0 that must not loop.
        byte[] block = new byte[1024];
        BitConverter.TryWriteBytes(block.AsSpan(0), 12u);
        BitConverter.TryWriteBytes(block.AsSpan(4), (ushort)12);
        block[6] = 1; block[7] = 1; block[8] = (byte)'a';
        BitConverter.TryWriteBytes(block.AsSpan(12), 13u);
        var list = new List<DirectoryEntry>();
        string? problem = DirectoryEntry.ParseBlock(block, 1024, true, list, 100);
        Assert.NotNull(problem);
        Assert.Single(list);
        Assert.Equal("a"u8.ToArray(), list[0].Name);
    }

    [Fact]
    public void Crc32CRawConvention()
    {
        // crc32c("123456789") = 0xE3069283 with the standard ~0 init and final inversion.
        Assert.Equal(0xE3069283u, ~Crc32C.Compute(~0u, "123456789"u8));
    }
}
