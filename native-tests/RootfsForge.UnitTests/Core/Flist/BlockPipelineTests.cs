using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using RootfsForge.Flist;
using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Flist;

public class BlockPipelineTests
{
    private static byte[] Hex(string s) => Convert.FromHexString(s);

    [Fact]
    public void Vector4a_EtcShells_MatchesRfsBlockRow()
    {
        var plain = Encoding.ASCII.GetBytes(
            "# /etc/shells: valid login shells\n/bin/sh\n/usr/bin/sh\n/bin/bash\n/usr/bin/bash\n/bin/rbash\n/usr/bin/rbash\n/bin/dash\n/usr/bin/dash\n");
        Assert.Equal(128, plain.Length);
        Assert.Equal("80016823202f6574632f7368656c6c733a2076616c6964206c6f67696e200914300a2f62696e2f73680a2f757372150c01140462612e1600090e01180072090b112f0d0f011a006432320010646173680a",
            Convert.ToHexStringLower(FlistBlock.Compress(plain)));
        var block = FlistBlock.Encode(plain);
        Assert.Equal("9b0362842bb0acc2c34922e075a9e5e824f3c10592009ae48fbcd736842ac09b", Convert.ToHexStringLower(block.Key));
        Assert.Equal("16b8f38d02bdc8cd18c396c6bf8a3e6cc94cb18846e09403ccca5175c42963c37acc23417a2a50c91e70147354ad80251c92d025d552a2f85ab904ee66f3e99ffd1d011ee9b3974cdef13d15de9f0c0a64d5dcfca5e392c45c7b1735db25b3eb78",
            Convert.ToHexStringLower(block.Data));
        Assert.Equal("4a9ac8f76703f2ee2886d2ec85e26c534141f2b05881c35c0cfe56efdd9cc34d", Convert.ToHexStringLower(block.Id));
        Assert.Equal(plain, FlistBlock.Decode(block.Data, block.Key, block.Id, verifyKey: true));
    }

    [Fact]
    public void Vector4a_MatchesTheRowInRedisFixture()
    {
        using var fl = FlistFile.Open(Path.Combine(TestEnvironment.DataDir, "rfs", "redis-latest.fl"));
        var blocks = fl.BlocksOf(12);
        Assert.Single(blocks);
        Assert.Equal("4a9ac8f76703f2ee2886d2ec85e26c534141f2b05881c35c0cfe56efdd9cc34d", Convert.ToHexStringLower(blocks[0].Id));
        Assert.Equal("9b0362842bb0acc2c34922e075a9e5e824f3c10592009ae48fbcd736842ac09b", Convert.ToHexStringLower(blocks[0].Key));
    }

    [Fact]
    public void Vector4b_RfsUnitTestInput()
    {
        var block = FlistBlock.Encode("some random data to store"u8);
        Assert.Equal("b83d15e3b4175fe39f3e86c7b3ed233167c37d779970e6137e7a8d1ddf865fae", Convert.ToHexStringLower(block.Key));
        Assert.Equal("1960736f6d652072616e646f6d206461746120746f2073746f7265",
            Convert.ToHexStringLower(FlistBlock.Compress("some random data to store"u8)));
        Assert.Equal("7508d3d12088d6cc278f83f68c9199e36c733bf3a0727d15014e0e986fface81e714cc33e977ef6f4f2f51",
            Convert.ToHexStringLower(block.Data));
        Assert.Equal("d9a070eafd4626be8b079980dbc0a2ed7c3355cd600b70ad6408467281af5ab7", Convert.ToHexStringLower(block.Id));
    }

    [Fact]
    public void Vector4c_ZeroChunkKey()
    {
        var zeros = new byte[FlistBlock.ChunkSize];
        var block = FlistBlock.Encode(zeros);
        Assert.Equal("0a93174557b2e0668f2531531415142280358ee32605d059dab1ce8ebbb1cc01", Convert.ToHexStringLower(block.Key));
        Assert.Equal(zeros, FlistBlock.Decode(block.Data, block.Key, block.Id, verifyKey: true));
    }

    public static TheoryData<string> SnappyInputs()
    {
        var data = new TheoryData<string>();
        foreach (var line in File.ReadLines(Path.Combine(TestEnvironment.DataDir, "snappy", "expected.tsv")).Skip(1))
            if (line.Length > 0) data.Add(line.Split('\t')[0]);
        return data;
    }

    /// <summary>One snappy vector of native-tests/data/snappy: the chunk's bytes and its row of expected.tsv.</summary>
    private static (byte[] Input, string[] Row) SnappyVector(string name)
    {
        var dir = Path.Combine(TestEnvironment.DataDir, "snappy");
        var row = File.ReadLines(Path.Combine(dir, "expected.tsv")).Single(l => l.StartsWith(name + "\t", StringComparison.Ordinal)).Split('\t');
        using var gz = new GZipStream(File.OpenRead(Path.Combine(dir, name)), CompressionMode.Decompress);
        using var ms = new MemoryStream();
        gz.CopyTo(ms);
        return (ms.ToArray(), row);
    }

    [Theory]
    [MemberData(nameof(SnappyInputs))]
    public void Snappy_ReproducesRfsCompressorBytes(string name)
    {
        var (input, row) = SnappyVector(name);
        Assert.Equal(long.Parse(row[2]), input.Length);
        Assert.Equal(row[3], Convert.ToHexStringLower(SHA256.HashData(input)));
        var compressed = FlistBlock.Compress(input);
        Assert.Equal(long.Parse(row[4]), compressed.Length);
        Assert.Equal(row[5], Convert.ToHexStringLower(SHA256.HashData(compressed)));
        var block = FlistBlock.Encode(input);
        Assert.Equal(input, FlistBlock.Decode(block.Data, block.Key, block.Id, verifyKey: true));
    }

    [Fact]
    public void Decode_WrongKey_IsClearError()
    {
        var block = FlistBlock.Encode("hello world, hello world"u8);
        var wrong = (byte[])block.Key.Clone();
        wrong[5] ^= 1;
        var e = Assert.Throws<ImageFormatException>(() => FlistBlock.Decode(block.Data, wrong, block.Id));
        Assert.Equal(ImageErrorKind.ChecksumMismatch, e.Kind);
        Assert.Contains(Convert.ToHexStringLower(block.Id), e.Structure); // names the block
    }

    private static byte[] OwnEncoder(byte[] input)
    {
        var buffer = new byte[SnappyRawEncoder.MaxEncodedLength(input.Length)];
        int n = SnappyRawEncoder.Encode(input, buffer);
        return buffer[..n];
    }

    [Theory]
    [MemberData(nameof(SnappyInputs))]
    public void SnappyRawEncoder_ReproducesRfsCompressorBytes(string name)
    {
        var (input, row) = SnappyVector(name);
        var compressed = OwnEncoder(input);
        Assert.Equal(long.Parse(row[4]), compressed.Length);
        Assert.Equal(row[5], Convert.ToHexStringLower(SHA256.HashData(compressed)));
    }

    [Fact]
    public void SnappyRawEncoder_AgreesWithIronSnappy_OnVariedInputs()
    {
        var shells = Encoding.ASCII.GetBytes(
            "# /etc/shells: valid login shells\n/bin/sh\n/usr/bin/sh\n/bin/bash\n/usr/bin/bash\n/bin/rbash\n/usr/bin/rbash\n/bin/dash\n/usr/bin/dash\n");
        Assert.Equal(IronSnappy.Snappy.Encode(shells), OwnEncoder(shells));
        var rng = new Random(1234);
        foreach (int len in new[] { 0, 1, 5, 16, 17, 18, 100, 255, 256, 257, 1000, 4096, 65535, 65536, 65537, 100_000, 200_003, 524_288 })
        {
            foreach (int kind in new[] { 0, 1, 2, 3 })
            {
                var input = new byte[len];
                switch (kind)
                {
                    case 0: rng.NextBytes(input); break;                                       // incompressible
                    case 1: break;                                                               // zeros: long copies
                    case 2: input = TreeFixtures.Text(len, len); break;                          // text
                    default:                                                                     // mixed runs and noise
                        for (int i = 0; i < len; i++) input[i] = (byte)(rng.Next(8) == 0 ? rng.Next(256) : (i / 7) % 5);
                        break;
                }
                Assert.True(IronSnappy.Snappy.Encode(input).AsSpan().SequenceEqual(OwnEncoder(input)), $"length {len} kind {kind}");
                Assert.Equal(input, IronSnappy.Snappy.Decode(OwnEncoder(input)));
            }
        }
    }
}
