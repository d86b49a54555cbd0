using System.IO.Compression;
using RootfsForge.Flist;
using RootfsForge.NativeTests.Support;
using RootfsForge.Sinks.Flist;
using RootfsForge.Stores;
using RootfsForge.Tar;
using RootfsForge.Tree;
using Xunit;

namespace RootfsForge.NativeTests.Flist;

/// <summary>
/// Layers whose file contents go to a <c>.fl</c> sink's <see cref="BlockSpool"/> while they are spooled: the archive must
/// read back byte for byte as the tar GNU tar wrote (the oracle), whatever the tar holds (pax records, GNU long names,
/// sparse members that turn the scanner off, an archive cut inside a content), and a <c>.fl</c> packed from such layers
/// must be the same bytes as one packed from plain spools, with no block of a file a later layer deleted in the store.
/// </summary>
public class BlockSpoolTests
{
    /// <summary>A tree with contents of the sizes around the tar block and the chunk size, long names and links.</summary>
    private static string MakeTree(string root)
    {
        Directory.CreateDirectory(Path.Combine(root, "d/sub"));
        int seed = 1;
        foreach (int size in new[] { 0, 1, 511, 512, 513, FlistBlock.ChunkSize - 1, FlistBlock.ChunkSize, FlistBlock.ChunkSize + 1, 1_300_000 })
            File.WriteAllBytes(Path.Combine(root, $"d/f{size}"), TreeFixtures.Random(size, seed++));
        string longName = new string('n', 150);
        File.WriteAllBytes(Path.Combine(root, "d/sub", longName), TreeFixtures.Random(70_000, seed++));
        File.WriteAllBytes(Path.Combine(root, "zeros"), new byte[600_000]);
        File.CreateSymbolicLink(Path.Combine(root, "d/link"), "f1");
        TestEnvironment.RunChecked("ln", [Path.Combine(root, "d/f513"), Path.Combine(root, "d/hard")]);
        return root;
    }

    private static byte[] Tar(string root, params string[] options)
    {
        string tar = Path.Combine(Path.GetDirectoryName(root)!, $"{Path.GetFileName(root)}-{Guid.NewGuid():N}.tar");
        TestEnvironment.RunChecked("tar", [.. options, "--sort=name", "--numeric-owner", "-cf", tar, "-C", root, "."]);
        return File.ReadAllBytes(tar);
    }

    private static async Task<TarArchive> SpoolAsync(byte[] tar, string temp, ContentEncoder? encoder) =>
        await TarArchive.OpenAsync(new MemoryStream(tar), "test layer", temp, default, encoder);

    [SkippableTheory]
    [InlineData("pax", false)]
    [InlineData("gnu", false)]
    [InlineData("pax", true)]
    public async Task EncodedLayer_ReadsBackAsTheTar(string format, bool gzip)
    {
        TestEnvironment.RequireTool("tar");
        string dir = TestEnvironment.NewTempDir("rff-bspool");
        byte[] tar = Tar(MakeTree(Path.Combine(dir, "tree")), $"--format={format}");
        byte[] input = tar;
        if (gzip)
        {
            var packed = new MemoryStream();
            using (var z = new GZipStream(packed, CompressionLevel.Fastest, leaveOpen: true)) z.Write(tar);
            input = packed.ToArray();
        }
        await using var spool = new BlockSpool(dir, workers: 2, BlockIdIndex.InMemory());
        using var archive = await SpoolAsync(input, dir, spool);

        Assert.Equal(tar.Length, archive.Length);
        AssertReadsBack(tar, archive);
        // Every non-empty regular file went to the encoder (GNU tar writes pax records for the long name, 'L' blocks for it
        // in the gnu format); each reads back as the file.
        var index = new TarIndex();
        index.ApplyLayer(archive, ociLayer: true);
        var files = index.Walk().Where(e => e.Type == EntryType.RegularFile).ToList();
        Assert.Equal(11, files.Count);
        foreach (var e in files)
        {
            using var content = e.OpenContent!();
            byte[] expected = File.ReadAllBytes(Path.Combine(dir, "tree", e.Path));
            Assert.Equal(expected.Length > 0, content.Encoded is not null);
            using var s = content.OpenStream();
            var actual = new MemoryStream();
            s.CopyTo(actual, 100_000); // reads that cross chunk boundaries
            Assert.Equal(expected, actual.ToArray());
        }
    }

    [SkippableFact]
    public async Task SparseMember_TurnsTheScannerOff_TheArchiveStillReadsBack()
    {
        TestEnvironment.RequireTool("tar");
        string dir = TestEnvironment.NewTempDir("rff-bspool");
        string root = Path.Combine(dir, "tree");
        Directory.CreateDirectory(root);
        File.WriteAllBytes(Path.Combine(root, "a-before"), TreeFixtures.Random(3000, 1));
        using (var f = File.Create(Path.Combine(root, "b-sparse")))
        {
            f.SetLength(4 << 20);
            f.Position = 1 << 20;
            f.Write(TreeFixtures.Random(5000, 2));
        }
        File.WriteAllBytes(Path.Combine(root, "c-after"), TreeFixtures.Random(3000, 3));
        byte[] tar = Tar(root, "--format=gnu", "--sparse");
        FindHeader(tar, "b-sparse", (byte)'S'); // GNU tar wrote it as an old GNU sparse member

        await using var spool = new BlockSpool(dir, workers: 2, BlockIdIndex.InMemory());
        using var archive = await SpoolAsync(tar, dir, spool);
        AssertReadsBack(tar, archive);
        var index = new TarIndex();
        index.ApplyLayer(archive, ociLayer: true);
        var byName = index.Walk().Where(e => e.Type == EntryType.RegularFile).ToDictionary(e => e.Path);
        using (var before = byName["a-before"].OpenContent!()) Assert.NotNull(before.Encoded);
        using (var after = byName["c-after"].OpenContent!()) Assert.Null(after.Encoded); // after the sparse member: plain
        using var sparse = byName["b-sparse"].OpenContent!();
        Assert.Null(sparse.Encoded);
        var all = new byte[sparse.Length];
        await sparse.ReadExactlyAtAsync(0, all);
        Assert.Equal(File.ReadAllBytes(Path.Combine(root, "b-sparse")), all);
    }

    [SkippableFact]
    public async Task ArchiveCutInsideAContent_EndsThere_AndTheReaderReportsTheCut()
    {
        TestEnvironment.RequireTool("tar");
        string dir = TestEnvironment.NewTempDir("rff-bspool");
        byte[] tar = Tar(MakeTree(Path.Combine(dir, "tree")), "--format=pax");
        // Inside the content of d/f1300000 (the largest): find it by its size field, cut 700 KB into its data.
        int header = FindHeader(tar, "f1300000");
        byte[] cut = tar[..(header + 512 + 700_000)];

        await using var spool = new BlockSpool(dir, workers: 2, BlockIdIndex.InMemory());
        using var archive = await SpoolAsync(cut, dir, spool);
        Assert.Equal(cut.Length, archive.Length);
        AssertReadsBack(cut, archive);
        var index = new TarIndex();
        var e = Assert.Throws<ImageFormatException>(() => index.ApplyLayer(archive, ociLayer: true));
        Assert.Equal(ImageErrorKind.Truncated, e.Kind);
    }

    private static int FindHeader(byte[] tar, string nameEnd, byte type = (byte)'0')
    {
        byte[] name = System.Text.Encoding.ASCII.GetBytes(nameEnd + "\0");
        for (int at = 0; at + 512 <= tar.Length; at += 512)
        {
            if (tar[at + 156] == type && tar.AsSpan(at, 100).IndexOf(name) >= 0) return at;
        }
        throw new InvalidOperationException($"no member named …{nameEnd}");
    }

    private static void AssertReadsBack(byte[] expected, TarArchive archive)
    {
        var all = new byte[expected.Length];
        archive.ReadExactly(0, all);
        Assert.True(expected.AsSpan().SequenceEqual(all), "the whole archive reads back as written");
        var random = new Random(7);
        for (int i = 0; i < 300; i++)
        {
            int at = random.Next(expected.Length);
            int n = Math.Min(expected.Length - at, random.Next(1, 1 << 20));
            var part = new byte[n];
            archive.ReadExactly(at, part);
            Assert.True(expected.AsSpan(at, n).SequenceEqual(part), $"{n} bytes at {at} read back");
        }
        Assert.Throws<ImageFormatException>(() => archive.ReadExactly(expected.Length - 1, new byte[2]));
    }

    /// <summary>
    /// Two layers, the upper one deleting a file and replacing another: the .fl packed from encoded layers is the .fl
    /// packed from plain spools, and the store holds exactly the blocks the .fl names (none of the deleted file's).
    /// </summary>
    [SkippableFact]
    public async Task FlistFromEncodedLayers_IsThePlainPack_AndStoresOnlyWhatItNames()
    {
        TestEnvironment.RequireTool("tar");
        TestEnvironment.RequireTool("sqlite3");
        string dir = TestEnvironment.NewTempDir("rff-bspool");
        byte[] lower = Tar(MakeTree(Path.Combine(dir, "lower")), "--format=pax");
        string upper = Path.Combine(dir, "upper");
        Directory.CreateDirectory(Path.Combine(upper, "d"));
        File.WriteAllBytes(Path.Combine(upper, "d", ".wh.f1300000"), []);
        File.WriteAllBytes(Path.Combine(upper, "d", "f513"), TreeFixtures.Random(2000, 99));
        byte[] upperTar = Tar(upper, "--format=pax");
        string store = Path.Combine(dir, "store");

        string encodedFl = Path.Combine(dir, "encoded.fl"), plainFl = Path.Combine(dir, "plain.fl");
        var readAfter = await PackAsync(encodedFl, store, dir, [lower, upperTar], encode: true);
        var stored = Directory.EnumerateFiles(store).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal).ToList();
        var named = TestEnvironment.RunChecked("sqlite3", [encodedFl, "SELECT DISTINCT lower(hex(id)) FROM block"])
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(named, stored);
        byte[] deleted = File.ReadAllBytes(Path.Combine(dir, "lower", "d", "f1300000"));
        string deletedKey = Convert.ToHexStringLower(FlistBlock.Hash(deleted.AsSpan(0, FlistBlock.ChunkSize)));
        Assert.Empty(TestEnvironment.RunChecked("sqlite3", [encodedFl, $"SELECT 1 FROM block WHERE lower(hex(key)) = '{deletedKey}'"]).Trim());

        var plainReadAfter = await PackAsync(plainFl, store, dir, [lower, upperTar], encode: false);
        Assert.Equal(File.ReadAllBytes(plainFl), File.ReadAllBytes(encodedFl));
        // The layers' files still read back after the sink completed (container's lint reads some then).
        Assert.Equal(plainReadAfter.Keys.Order(), readAfter.Keys.Order());
        foreach (var (path, bytes) in plainReadAfter) Assert.True(bytes.AsSpan().SequenceEqual(readAfter[path]), path);
        Assert.Equal(File.ReadAllBytes(Path.Combine(upper, "d", "f513")), readAfter["d/f513"]);
    }

    /// <summary>Packs the layers into <paramref name="fl"/>; returns every regular file's content as read after the sink completed.</summary>
    private static async Task<Dictionary<string, byte[]>> PackAsync(string fl, string store, string temp, byte[][] layers, bool encode)
    {
        var route = BlockStoreRoute.Parse($"dir://{store}");
        var archives = new List<TarArchive>();
        var readAfter = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        try
        {
            await using var sink = new FlistSink(fl, new FlistSinkOptions { Stores = [route] });
            var index = new TarIndex();
            foreach (var layer in layers)
            {
                var archive = await SpoolAsync(layer, temp, encode ? sink.ContentEncoder(temp) : null);
                archives.Add(archive);
                index.ApplyLayer(archive, ociLayer: true);
            }
            foreach (var e in index.Walk()) await sink.AddAsync(e);
            await sink.CompleteAsync();
            foreach (var e in index.Walk().Where(e => e.Type == EntryType.RegularFile))
            {
                using var content = e.OpenContent!();
                var bytes = new byte[content.Length];
                await content.ReadExactlyAtAsync(0, bytes);
                readAfter[e.Path] = bytes;
            }
        }
        finally
        {
            foreach (var a in archives) a.Dispose();
            await route.Store.DisposeAsync();
        }
        return readAfter;
    }

    /// <summary>
    /// A pax <c>size</c> far beyond the bytes that follow (a corrupt or hostile layer): memory follows the bytes that came,
    /// not the claim, a claim past what the spool numbers stays in the spool file, and the reader reports the cut.
    /// </summary>
    [Theory]
    [InlineData(1L << 48)]
    [InlineData(1L << 52)]
    public async Task HugeClaimedSize_CostsOnlyTheBytesThatCame(long claimed)
    {
        string dir = TestEnvironment.NewTempDir("rff-bspool");
        var pax = new PaxRecordWriter();
        pax.Add("size", System.Text.Encoding.ASCII.GetBytes(claimed.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        var tar = new MemoryStream();
        tar.Write(Member("PaxHeaders/big", TarHeader.TypeFlags.PaxExtended, pax.Written.ToArray()));
        tar.Write(Member("big", TarHeader.TypeFlags.RegularFile, []));
        tar.Write(TreeFixtures.Random(3 * FlistBlock.ChunkSize + 100, 5));
        byte[] bytes = tar.ToArray();

        await using var spool = new BlockSpool(dir, workers: 2, BlockIdIndex.InMemory());
        long before = GC.GetTotalAllocatedBytes(precise: true);
        using var archive = await SpoolAsync(bytes, dir, spool);
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        Assert.True(allocated < 64 << 20, $"spooling allocated {allocated} bytes");
        AssertReadsBack(bytes, archive);
        var e = Assert.Throws<ImageFormatException>(() => new TarIndex().ApplyLayer(archive, ociLayer: true));
        Assert.Equal(ImageErrorKind.Truncated, e.Kind);
    }

    /// <summary>
    /// A ustar header for <paramref name="data"/> followed by it, padded to the tar block; <paramref name="size"/>, when
    /// given, is what the header claims instead of the data's length.
    /// </summary>
    private static byte[] Member(string name, byte typeFlag, byte[] data, long? size = null)
    {
        var block = new byte[512 + (data.Length + 511) / 512 * 512];
        TarHeader.WriteUstar(block, System.Text.Encoding.UTF8.GetBytes(name), 0x1A4, 0, 0, size ?? data.Length, 0, typeFlag,
            typeFlag == TarHeader.TypeFlags.HardLink ? "a"u8 : default, 0, 0);
        data.CopyTo(block, 512);
        return block;
    }

    /// <summary>
    /// Archives the scanner must not misread, crafted member by member: whatever it makes of them, the archive reads back
    /// byte for byte, the member reader's verdict is the one it gives without an encoder, and a content handed to the
    /// encoder is exactly the member's data.
    /// </summary>
    [Theory]
    [InlineData("bad-checksum")]   // a header that does not parse, between two files: the scanner stops there
    [InlineData("global-pax")]     // a 'g' record first: not followed, nothing is handed over
    [InlineData("link-with-size")] // a hard link whose size field claims data: header-only, as the reader takes it
    [InlineData("huge-long-name")] // a GNU long name claiming 4 GiB: skipped to the end, the reader refuses it
    [InlineData("pax-cut")]        // pax records cut by the end of the archive
    public async Task HostileArchives_ReadBackAndParseAsWithoutAnEncoder(string kind)
    {
        string dir = TestEnvironment.NewTempDir("rff-bspool");
        byte[] a = TreeFixtures.Random(70_000, 1), b = TreeFixtures.Random(3000, 2);
        var tar = new MemoryStream();
        switch (kind)
        {
            case "bad-checksum":
                tar.Write(Member("a", TarHeader.TypeFlags.RegularFile, a));
                var bad = Member("x", TarHeader.TypeFlags.RegularFile, b);
                bad[148] ^= 1; // the checksum field
                tar.Write(bad);
                tar.Write(Member("b", TarHeader.TypeFlags.RegularFile, b));
                break;
            case "global-pax":
                var g = new PaxRecordWriter();
                g.Add("comment", "x"u8.ToArray());
                tar.Write(Member("g", TarHeader.TypeFlags.PaxGlobal, g.Written.ToArray()));
                tar.Write(Member("a", TarHeader.TypeFlags.RegularFile, a));
                break;
            case "link-with-size":
                tar.Write(Member("a", TarHeader.TypeFlags.RegularFile, a));
                tar.Write(Member("l", TarHeader.TypeFlags.HardLink, [], size: 1024));
                tar.Write(Member("b", TarHeader.TypeFlags.RegularFile, b));
                break;
            case "huge-long-name":
                tar.Write(Member("a", TarHeader.TypeFlags.RegularFile, a));
                tar.Write(Member("././@LongLink", TarHeader.TypeFlags.GnuLongName, "name\0"u8.ToArray(), size: 4L << 30));
                tar.Write(Member("b", TarHeader.TypeFlags.RegularFile, b));
                break;
            case "pax-cut":
                tar.Write(Member("a", TarHeader.TypeFlags.RegularFile, a));
                var x = new PaxRecordWriter();
                x.Add("path", System.Text.Encoding.ASCII.GetBytes(new string('p', 2000)));
                tar.Write(Member("x", TarHeader.TypeFlags.PaxExtended, x.Written.ToArray())[..1024]);
                break;
        }
        if (kind is "global-pax" or "link-with-size") tar.Write(new byte[1024]); // a proper end
        byte[] bytes = tar.ToArray();

        await using var spool = new BlockSpool(dir, workers: 2, BlockIdIndex.InMemory());
        using var encoded = await SpoolAsync(bytes, dir, spool);
        using var plain = await SpoolAsync(bytes, dir, null);
        AssertReadsBack(bytes, encoded);

        var (plainFiles, plainError) = Apply(plain);
        var (files, error) = Apply(encoded);
        Assert.Equal(plainError?.Kind, error?.Kind);
        Assert.Equal(plainError?.Offset, error?.Offset);
        Assert.Equal(plainFiles.Keys.Order(), files.Keys.Order());
        foreach (var (path, data) in plainFiles) Assert.True(data.SequenceEqual(files[path]), path);

        // What the scanner made of it: a (before the trouble) handed over; b only where its member was followed.
        static long Padded(long n) => (n + 511) / 512 * 512;
        long afterA = 512 + Padded(a.Length);
        if (kind == "global-pax") Assert.Null(encoded.EncodedAt(512 + 512 + 512, a.Length)); // after the 'g' member
        else Assert.NotNull(encoded.EncodedAt(512, a.Length));
        if (kind == "bad-checksum") Assert.Null(encoded.EncodedAt(afterA + 512 + Padded(b.Length) + 512, b.Length));
        if (kind == "link-with-size") Assert.NotNull(encoded.EncodedAt(afterA + 512 + 512, b.Length));
        if (kind == "link-with-size") Assert.Equal(b, files["b"]);
        if (kind is "bad-checksum" or "huge-long-name" or "pax-cut") Assert.NotNull(error);
        else Assert.Null(error);
    }

    /// <summary>Applies the archive as a layer: its regular files' contents, and the reader's error if it refused it.</summary>
    private static (Dictionary<string, byte[]> Files, ImageFormatException? Error) Apply(TarArchive archive)
    {
        var files = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var index = new TarIndex();
        try
        {
            index.ApplyLayer(archive, ociLayer: true);
        }
        catch (ImageFormatException e)
        {
            return (files, e);
        }
        foreach (var e in index.Walk().Where(e => e.Type == EntryType.RegularFile))
        {
            using var content = e.OpenContent!();
            var bytes = new byte[content.Length];
            content.ReadExactlyAtAsync(0, bytes).AsTask().GetAwaiter().GetResult();
            files[e.Path] = bytes;
        }
        return (files, null);
    }
}
