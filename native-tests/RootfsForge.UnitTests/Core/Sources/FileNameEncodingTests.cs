using RootfsForge.Tree;
using Xunit;

namespace RootfsForge.NativeTests;

public class FileNameEncodingTests
{
    [Theory]
    [InlineData(new byte[] { 0x61, 0x62 })]
    [InlineData(new byte[] { 0xff, 0x61, 0xc3 })]
    [InlineData(new byte[] { 0xc3, 0xa9, 0x80, 0xed, 0xb2, 0x80 })]
    [InlineData(new byte[] { 0xf0, 0x9f, 0x98, 0x80, 0xfe })]
    public void RoundTripsArbitraryBytes(byte[] name)
    {
        string s = FileNameEncoding.GetString(name);
        Assert.Equal(name, FileNameEncoding.GetBytes(s));
    }

    [Fact]
    public void OrdersByBytes()
    {
        // U+FF61 (EF BD A1) sorts before U+1F600 (F0 9F 98 80) in byte order, but after it in UTF-16 ordinal order.
        Assert.True(FileNameEncoding.CompareBytes("\uFF61", "\U0001F600") < 0);
        Assert.True(FileNameEncoding.CompareBytes("a", "ab") < 0);
        Assert.True(FileNameEncoding.CompareBytes(FileNameEncoding.GetString([0xff]), "z") > 0);
    }
}
