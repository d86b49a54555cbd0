using System.Text;
using RootfsForge.Tar;
using Xunit;

namespace RootfsForge.NativeTests.Tar;

/// <summary>
/// Hostile archives, crafted block by block: every bound on what the input can make the reader hold ends in one
/// <see cref="ImageFormatException"/> with the right kind, structure and offset.
/// </summary>
public class TarLimitsTests
{
    private const int Block = 512;

    [Fact]
    public async Task TooManyMembers()
    {
        var tar = Archive(Enumerable.Range(0, 5).Select(i => Member($"f{i}", TarHeader.TypeFlags.RegularFile)).ToArray());
        using var source = new TarArchiveSource(new MemoryStream(tar), new TarArchiveSourceOptions { MaxEntries = 3 });
        var ex = await ThrowsAsync(source);
        Assert.Equal((ImageErrorKind.LimitExceeded, "tar archive", 3L * Block), (ex.Kind, ex.Structure, ex.Offset));
    }

    [Fact]
    public async Task OversizedExtensionHeadersAreRefusedBeforeTheyAreRead()
    {
        // Only the header is there: the size alone is refused, nothing is allocated for it.
        var ex = await ThrowsAsync(Archive(Header("./PaxHeaders/x", TarHeader.TypeFlags.PaxExtended, size: TarLimits.MaxPaxHeaderSize + 1L)));
        Assert.Equal((ImageErrorKind.LimitExceeded, "pax header", 0L), (ex.Kind, ex.Structure, ex.Offset));
        ex = await ThrowsAsync(Archive(Header("././@LongLink", TarHeader.TypeFlags.GnuLongName, size: TarLimits.MaxNameLength + 2L)));
        Assert.Equal((ImageErrorKind.LimitExceeded, "GNU long name", 0L), (ex.Kind, ex.Structure, ex.Offset));
    }

    [Fact]
    public async Task OverlongAndOverdeepNames()
    {
        var ex = await ThrowsAsync(Archive(Pax(("path", new string('n', TarLimits.MaxNameLength + 1))), Member("x", TarHeader.TypeFlags.RegularFile)));
        Assert.Equal((ImageErrorKind.LimitExceeded, "pax header"), (ex.Kind, ex.Structure));
        ex = await ThrowsAsync(Archive(Pax(("path", string.Concat(Enumerable.Repeat("a/", TarLimits.MaxNameDepth + 1)) + "f")),
            Member("x", TarHeader.TypeFlags.RegularFile)));
        Assert.Equal((ImageErrorKind.LimitExceeded, "tar entry name", 0L), (ex.Kind, ex.Structure, ex.Offset));
    }

    [Fact]
    public async Task SparseMaps()
    {
        // GNU sparse 1.0 claiming more segments than the limit.
        var map = Encoding.ASCII.GetBytes($"{TarLimits.MaxSparseSegments + 1}\n");
        var ex = await ThrowsAsync(Archive(
            Pax(("GNU.sparse.major", "1"), ("GNU.sparse.minor", "0"), ("GNU.sparse.name", "s"), ("GNU.sparse.realsize", "100")),
            Member("GNUSparseFile.0/s", TarHeader.TypeFlags.RegularFile, map)));
        Assert.Equal((ImageErrorKind.LimitExceeded, "sparse map", 3L * Block), (ex.Kind, ex.Structure, ex.Offset)); // the map itself
        // GNU sparse 0.1 with a segment past the real size.
        ex = await ThrowsAsync(Archive(Pax(("GNU.sparse.size", "10"), ("GNU.sparse.map", "0,4,8,4")), Member("s", TarHeader.TypeFlags.RegularFile, new byte[8])));
        Assert.Equal((ImageErrorKind.Corrupt, "sparse map", 2L * Block), (ex.Kind, ex.Structure, ex.Offset));
        // A map describing more data than the member stores.
        ex = await ThrowsAsync(Archive(Pax(("GNU.sparse.size", "10"), ("GNU.sparse.map", "0,8")), Member("s", TarHeader.TypeFlags.RegularFile, new byte[4])));
        Assert.Equal((ImageErrorKind.Corrupt, "sparse map"), (ex.Kind, ex.Structure));
    }

    [Fact]
    public async Task CorruptAndCutArchives()
    {
        var ex = await ThrowsAsync(Archive(Header("vol", TarHeader.TypeFlags.GnuMultiVolume)));
        Assert.Equal((ImageErrorKind.Unsupported, "tar header", 0L), (ex.Kind, ex.Structure, ex.Offset));

        var whole = Archive(Member("a", TarHeader.TypeFlags.RegularFile, new byte[10]), Member("b", TarHeader.TypeFlags.RegularFile));
        ex = await ThrowsAsync(whole[..(2 * Block + 100)]);
        Assert.Equal((ImageErrorKind.Truncated, "tar header", 2L * Block), (ex.Kind, ex.Structure, ex.Offset));
        ex = await ThrowsAsync(whole[..(Block + 5)]);
        Assert.Equal((ImageErrorKind.Truncated, "tar entry", 0L), (ex.Kind, ex.Structure, ex.Offset));

        var badRecord = Header("./PaxHeaders/x", TarHeader.TypeFlags.PaxExtended, data: "9 path=x\n99 junk"u8.ToArray());
        ex = await ThrowsAsync(Archive(badRecord, Member("x", TarHeader.TypeFlags.RegularFile)));
        Assert.Equal((ImageErrorKind.Corrupt, "pax header", (long)Block + 9), (ex.Kind, ex.Structure, ex.Offset));

        ex = await ThrowsAsync(Archive(Pax(("uid", "-1")), Member("x", TarHeader.TypeFlags.RegularFile)));
        Assert.Equal((ImageErrorKind.Corrupt, "pax header"), (ex.Kind, ex.Structure));
    }

    [Fact]
    public async Task AnArchiveWithoutItsEndMarkerIsReadWithAWarning()
    {
        var tar = Member("a", TarHeader.TypeFlags.RegularFile, "hello"u8.ToArray());
        using var source = new TarArchiveSource(new MemoryStream(tar));
        Assert.Equal(["", "a"], (await source.WalkAsync().ToListAsync()).Select(e => e.Path));
        Assert.Contains(source.Warnings, w => w.Contains("without the two zero blocks"));
    }

    private static async Task<ImageFormatException> ThrowsAsync(byte[] archive)
    {
        using var source = new TarArchiveSource(new MemoryStream(archive));
        return await ThrowsAsync(source);
    }

    private static Task<ImageFormatException> ThrowsAsync(TarArchiveSource source) =>
        Assert.ThrowsAsync<ImageFormatException>(async () => await source.WalkAsync().ToListAsync());

    private static byte[] Archive(params byte[][] members) => [.. members.SelectMany(m => m), .. new byte[2 * Block]];

    private static byte[] Member(string name, byte typeFlag, byte[]? data = null) => Header(name, typeFlag, data: data ?? []);

    private static byte[] Pax(params (string Key, string Value)[] records)
    {
        var writer = new PaxRecordWriter();
        foreach (var (key, value) in records) writer.Add(key, Encoding.UTF8.GetBytes(value));
        return Header("./PaxHeaders/x", TarHeader.TypeFlags.PaxExtended, data: writer.Written.ToArray());
    }

    /// <summary>A header block (size <paramref name="size"/>, else the data's length) followed by the data, padded.</summary>
    private static byte[] Header(string name, byte typeFlag, long? size = null, byte[]? data = null)
    {
        data ??= [];
        var block = new byte[Block + (data.Length + Block - 1) / Block * Block];
        TarHeader.WriteUstar(block, Encoding.UTF8.GetBytes(name), 0x1A4, 0, 0, size ?? data.Length, 0, typeFlag, default, 0, 0);
        data.CopyTo(block, Block);
        return block;
    }
}
