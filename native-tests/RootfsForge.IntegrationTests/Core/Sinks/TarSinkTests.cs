using System.Text;
using RootfsForge.NativeTests.Support;
using RootfsForge.Sinks;
using RootfsForge.Sinks.Tar;
using RootfsForge.Tree;
using Xunit;

namespace RootfsForge.NativeTests.Sinks;

public class TarSinkTests : TempDirectories
{
    private static async Task<string> WriteTar(IEnumerable<TreeEntry> entries, string dir, string name = "out.tar", SinkFactoryOptions? options = null)
    {
        var path = Path.Combine(dir, name);
        await using var sink = SinkFactory.Create(path, options);
        foreach (var e in entries) sink.Add(e);
        sink.Complete();
        return path;
    }

    [SkippableFact]
    public async Task GnuTarAsRootRestoresEveryField()
    {
        TestEnvironment.RequireRoot("extracting owners, devices and security.capability");
        TestEnvironment.RequireTool("tar");
        var dir = Temp();
        var tree = SampleTrees.Full();
        var tar = await WriteTar(tree, dir);
        var outDir = Path.Combine(dir, "x");
        Directory.CreateDirectory(outDir);
        TestEnvironment.RunChecked("tar", ["--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpf", tar, "-C", outDir]);
        TreeDump.AssertSame(TreeDump.OfEntries(tree), TreeDump.OfDirectory(outDir));
    }

    [SkippableFact]
    public async Task BsdtarAsRootRestoresEveryField()
    {
        TestEnvironment.RequireRoot("extracting owners, devices and security.capability");
        TestEnvironment.RequireTool("bsdtar");
        var dir = Temp();
        var tree = SampleTrees.Full();
        var tar = await WriteTar(tree, dir);
        var outDir = Path.Combine(dir, "x");
        Directory.CreateDirectory(outDir);
        TestEnvironment.RunChecked("bsdtar", ["--numeric-owner", "--xattrs", "-xpf", tar, "-C", outDir]);
        // libarchive 3.6 limitations, also seen with archives GNU tar writes: it leaves "." alone, reads a negative
        // fractional pax time "-S.F" as -S + .F (GNU tar and Python read -(S.F)), and does not restore ACLs from
        // SCHILY.xattr.system.posix_acl_* records (GNU tar does).
        static string[] Relax(string[] lines) => lines.Skip(1).Select(l =>
        {
            var f = l.Split('\t');
            if (f.Length > 9)
            {
                if (f[5].StartsWith('-') && !f[5].EndsWith(".000000000")) f[5] = "*";
                f[9] = string.Join(',', f[9].Split(',').Where(x => !x.StartsWith("system.posix_acl_"))) is { Length: > 0 } x ? x : "-";
            }
            return string.Join('\t', f);
        }).ToArray();
        TreeDump.AssertSame(Relax(TreeDump.OfEntries(tree)), Relax(TreeDump.OfDirectory(outDir)));
    }

    [SkippableFact]
    public async Task GnuTarAndBsdtarListEntries()
    {
        TestEnvironment.RequireTool("tar");
        TestEnvironment.RequireTool("bsdtar");
        var dir = Temp();
        var tar = await WriteTar(SampleTrees.Full(), dir);
        var gnu = TestEnvironment.RunChecked("tar", ["--numeric-owner", "-tvvf", tar]);
        var bsd = TestEnvironment.RunChecked("bsdtar", ["--numeric-owner", "-tvf", tar]);
        foreach (var listing in new[] { gnu, bsd })
        {
            Assert.Contains("./etc/passwd", listing);
            Assert.Contains("./s-sparse", listing);
            Assert.Contains("./" + new string('n', 255), listing);
            Assert.Contains("./d" + new string('x', 120) + "/" + new string('y', 60), listing);
            Assert.Contains("4000000000", listing);
            Assert.Contains("4093,0", listing);
            Assert.Contains("0,1023997", listing);
            Assert.DoesNotContain("PaxHeaders", listing);
            Assert.DoesNotContain("GNUSparseFile", listing);
        }
        Assert.Contains("./i-hardlink link to ./etc/passwd", gnu);
        Assert.Contains("./u-symlink -> etc/passwd", gnu);
        Assert.Contains("2345-06-07 08:09", gnu);
        Assert.Contains("1960-01-01", gnu);
    }

    private const string TarfileDump = """
import tarfile, sys, hashlib, os
with tarfile.open(sys.argv[1], encoding='utf-8', errors='surrogateescape') as t:
    for m in t:
        name = os.fsencode(m.name).hex()
        sha = '-'
        if m.isreg():
            d = hashlib.sha256()
            f = t.extractfile(m)
            while True:
                b = f.read(1 << 20)
                if not b: break
                d.update(b)
            sha = d.hexdigest()
        x = ','.join(sorted(k[13:] + '=' + v.encode('utf-8', 'surrogateescape').hex() for k, v in m.pax_headers.items() if k.startswith('SCHILY.xattr.')))
        mt = m.pax_headers.get('mtime', str(int(m.mtime)))
        print('\t'.join([name, m.type.decode(), oct(m.mode), str(m.uid), str(m.gid), repr(m.uname), repr(m.gname), mt, str(m.size),
                         f"{m.devmajor}:{m.devminor}" if m.ischr() or m.isblk() else '-', os.fsencode(m.linkname).hex(), x or '-', sha]))
""";

    [SkippableFact]
    public async Task SymlinkTargetsEndAtNulAndEmptyOnesAreKeptWithAWarning()
    {
        TestEnvironment.RequireTool("python3");
        TestEnvironment.RequireTool("tar");
        var dir = Temp();
        string longTarget = new('a', 150);
        var tree = new List<TreeEntry>
        {
            SampleTrees.Dir(""), SampleTrees.Symlink("cut", "abc\0\0\0"), SampleTrees.Symlink("empty", ""),
            SampleTrees.Symlink("long-cut", longTarget + "\0zz"), SampleTrees.Symlink("nul-only", "\0\0"),
            new TreeEntry
            {
                Path = "z-after", Type = EntryType.RegularFile, Permissions = 0x1A4, Size = 1, OpenContent = () => FileContent.FromBytes(new byte[] { 1 }),
                ExtendedAttributes = [new ExtendedAttribute("user.a=b", [1]), new ExtendedAttribute("user.ok", [2])],
            },
        };
        var path = Path.Combine(dir, "out.tar");
        await using (var sink = SinkFactory.Create(path))
        {
            foreach (var e in tree) sink.Add(e);
            sink.Complete();
            var w = sink.Statistics.Warnings;
            Assert.Contains(w, x => x.Contains("'empty'") && x.Contains("empty target kept"));
            Assert.Contains(w, x => x.Contains("'nul-only'") && x.Contains("empty target kept"));
            Assert.Contains(w, x => x.Contains("'cut'") && x.Contains("first NUL"));
            Assert.Contains(w, x => x.Contains("'long-cut'") && x.Contains("first NUL"));
            // A pax record cannot name an xattr with '=': dropped, counted and named.
            Assert.Contains(w, x => x.Contains("'z-after'") && x.Contains("user.a=b"));
            Assert.Equal(5, w.Count);
            Assert.Equal(1, sink.Statistics.DroppedAttributes);
            Assert.Equal(tree.Count, sink.Statistics.Entries);
        }
        // Python's tarfile: every link is there, its target as the kernel reads it (ustar field and pax linkpath alike).
        var links = TestEnvironment.RunChecked("python3", ["-c", TarfileDump, path]).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split('\t')).Where(f => f[1] == "2")
            .ToDictionary(f => Encoding.UTF8.GetString(Convert.FromHexString(f[0])), f => Encoding.UTF8.GetString(Convert.FromHexString(f[10])));
        Assert.Equal(new Dictionary<string, string>
        {
            ["./cut"] = "abc", ["./empty"] = "", ["./long-cut"] = longTarget, ["./nul-only"] = "",
        }, links);
        // What the warning says: GNU tar cannot create the empty links but extracts the rest.
        var outDir = Path.Combine(dir, "x");
        Directory.CreateDirectory(outDir);
        var (rc, _, err) = TestEnvironment.Run("tar", ["-xf", path, "-C", outDir]);
        Assert.NotEqual(0, rc);
        Assert.Contains("empty", err);
        Assert.Equal([1], File.ReadAllBytes(Path.Combine(outDir, "z-after")));
        Assert.Equal("abc", new FileInfo(Path.Combine(outDir, "cut")).LinkTarget);
    }

    [SkippableFact]
    public async Task PythonTarfileReadsNamesSizesXattrsAndSparseContent()
    {
        TestEnvironment.RequireTool("python3");
        var dir = Temp();
        var tree = SampleTrees.Full();
        var tar = await WriteTar(tree, dir);
        var lines = TestEnvironment.RunChecked("python3", ["-c", TarfileDump, tar]).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var expected = new List<string>();
        foreach (var e in tree)
        {
            string name = e.Path.Length == 0 ? "." : "./" + e.Path; // tarfile strips only the trailing "/"
            string h = Convert.ToHexStringLower(FileNameEncoding.GetBytes(name));
            string type = e.Type switch
            {
                EntryType.Directory => "5", EntryType.RegularFile => "0", EntryType.HardLink => "1", EntryType.SymbolicLink => "2",
                EntryType.CharacterDevice => "3", EntryType.BlockDevice => "4", _ => "6",
            };
            string sha = "-";
            long size = 0;
            if (e.Type == EntryType.RegularFile)
            {
                using var c = e.OpenContent!();
                size = c.Length;
                sha = c is SparseContent s ? s.Sha256() : Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(c.OpenStream()));
            }
            string link = e.Type switch
            {
                EntryType.HardLink => Convert.ToHexStringLower(FileNameEncoding.GetBytes("./" + e.LinkTarget!)),
                EntryType.SymbolicLink => Convert.ToHexStringLower(FileNameEncoding.GetBytes(e.LinkTarget!)),
                _ => "",
            };
            string x = e.ExtendedAttributes.Count == 0 ? "-" : string.Join(',', e.ExtendedAttributes.OrderBy(a => a.Name, StringComparer.Ordinal)
                .Select(a => a.Name + "=" + Convert.ToHexStringLower(a.Value)));
            var m = e.ModificationTime;
            string mt = m.Nanoseconds == 0 && m.Seconds >= 0 && m.Seconds < 8589934592L ? m.Seconds.ToString()
                : m.Nanoseconds == 0 ? m.Seconds.ToString()
                : m.Seconds >= 0 ? $"{m.Seconds}.{m.Nanoseconds:D9}".TrimEnd('0')
                : $"-{-(m.Seconds + 1)}.{1_000_000_000 - m.Nanoseconds:D9}".TrimEnd('0');
            string dev = e.Type is EntryType.CharacterDevice or EntryType.BlockDevice ? $"{e.DeviceMajor}:{e.DeviceMinor}" : "-";
            expected.Add(string.Join('\t', h, type, "0o" + Convert.ToString(e.Permissions & 0xFFF, 8), e.Uid.ToString(), e.Gid.ToString(),
                "''", "''", mt, size.ToString(), dev, link, x, sha));
        }
        TreeDump.AssertSame(expected.ToArray(), lines);
    }

    [SkippableFact]
    public async Task FiveGibSparseFileCostsKilobytesAndRestoresExactly()
    {
        TestEnvironment.RequireTool("tar");
        TestEnvironment.RequireTool("python3");
        const long size = 5L << 30;
        var segments = new[] { new DataSegment(0, 4096), new DataSegment(2L << 30, 2048), new DataSegment(size - 2048, 2048) };
        var content = new SparseContent(size, segments, seed: 7);
        var dir = Temp();
        var tree = new List<TreeEntry> { SampleTrees.Dir(""), SampleTrees.Content("big.img", () => new SparseContent(size, segments, 7), size) };
        var tar = await WriteTar(tree, dir);
        Assert.True(new FileInfo(tar).Length < 64 * 1024, $"tar is {new FileInfo(tar).Length} bytes");

        var ranges = new List<(long Offset, int Length)>();
        foreach (var s in segments) ranges.Add((s.Offset, (int)s.Length));
        ranges.Add((4096, 4096));            // hole right after data
        ranges.Add(((3L << 30) + 17, 1000)); // hole in the middle
        string spec = string.Join(';', ranges.Select(r => $"{r.Offset},{r.Length}"));
        var expected = string.Join('\n', ranges.Select(r =>
        {
            var b = new byte[r.Length];
            content.ReadExactlyAt(r.Offset, b);
            return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(b));
        }));

        // GNU tar extracts it as a sparse file.
        var outDir = Path.Combine(dir, "x");
        Directory.CreateDirectory(outDir);
        TestEnvironment.RunChecked("tar", ["-xf", tar, "-C", outDir]);
        const string ReadRanges = """
import sys, hashlib, os
p, spec = sys.argv[1], sys.argv[2]
if p.endswith('.tar'):
    import tarfile
    t = tarfile.open(p)
    m = t.getmember('./big.img')
    print(m.size)
    f = t.extractfile(m)
else:
    print(os.path.getsize(p))
    f = open(p, 'rb')
    print(os.stat(p).st_blocks * 512 < 1 << 20)
for r in spec.split(';'):
    o, n = map(int, r.split(','))
    f.seek(o)
    print(hashlib.sha256(f.read(n)).hexdigest())
""";
        var fromGnu = TestEnvironment.RunChecked("python3", ["-c", ReadRanges, Path.Combine(outDir, "big.img"), spec]).Trim();
        Assert.Equal($"{size}\nTrue\n{expected}", fromGnu);
        var fromTarfile = TestEnvironment.RunChecked("python3", ["-c", ReadRanges, tar, spec]).Trim();
        Assert.Equal($"{size}\n{expected}", fromTarfile);
    }

    [SkippableTheory]
    [InlineData("out.tar")]
    [InlineData("out.tar.gz")]
    [InlineData("out.tgz")]
    [InlineData("out.tar.zst")]
    public async Task TwoWritesAreByteIdenticalAndReadable(string name)
    {
        TestEnvironment.RequireTool("tar");
        TestEnvironment.RequireTool("zstd");
        var dir1 = Temp();
        var dir2 = Temp();
        // Enough content for several 1 MiB gzip members, so ordering across threads matters.
        var big = new byte[5 << 20];
        new Random(42).NextBytes(big.AsSpan(0, 3 << 20));
        var tree = SampleTrees.Full();
        tree.Add(SampleTrees.File("z-big", big));
        var a = File.ReadAllBytes(await WriteTar(tree, dir1, name));
        var b = File.ReadAllBytes(await WriteTar(tree, dir2, name));
        Assert.Equal(a.Length, b.Length);
        Assert.True(a.AsSpan().SequenceEqual(b), "archives differ");
        var list = TestEnvironment.RunChecked("tar", ["-tf", Path.Combine(dir1, name)]);
        Assert.Contains("./z-big", list);
        Assert.Contains("./etc/passwd", list);
        if (name.EndsWith("gz"))
        {
            TestEnvironment.RunChecked("gzip", ["-t", Path.Combine(dir1, name)]);
            var bytes = TestEnvironment.RunChecked("python3", ["-c",
                "import gzip,sys,hashlib; d=gzip.open(sys.argv[1]).read(); print(len(d) % 512, hashlib.sha256(d).hexdigest())", Path.Combine(dir1, name)]);
            var plain = File.ReadAllBytes(await WriteTar(tree, dir1, "plain.tar"));
            Assert.Equal($"0 {Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(plain))}", bytes.Trim());
        }
    }

    [Theory]
    [InlineData(TarCompression.Gzip)]
    [InlineData(TarCompression.Zstd)]
    public async Task CompressedOutputDoesNotDependOnThreadCount(TarCompression compression)
    {
        var big = new byte[3 << 20];
        new Random(7).NextBytes(big.AsSpan(0, 1 << 20));
        var tree = SampleTrees.Full();
        tree.Add(SampleTrees.File("z-big", big));
        async Task<byte[]> Write(int threads)
        {
            var ms = new MemoryStream();
            await using var sink = new TarSink(ms, new TarSinkOptions { Compression = compression, CompressionThreads = threads }, leaveOpen: true);
            foreach (var e in tree) sink.Add(e);
            sink.Complete();
            return ms.ToArray();
        }
        var one = await Write(1);
        var two = await Write(2);
        var four = await Write(4);
        Assert.True(one.AsSpan().SequenceEqual(two) && two.AsSpan().SequenceEqual(four), "output depends on the thread count");
    }

    [SkippableFact]
    public async Task MtimeClampAndSocketsAreApplied()
    {
        TestEnvironment.RequireTool("python3");
        var dir = Temp();
        var clamp = new UnixTime(1_650_000_000, 0);
        var tree = SampleTrees.Full(withDevices: false, withSocket: true);
        var path = Path.Combine(dir, "c.tar");
        await using (var sink = SinkFactory.Create(path, new SinkFactoryOptions { MtimeClamp = clamp }))
        {
            foreach (var e in tree) sink.Add(e);
            sink.Complete();
            Assert.Equal(1, sink.Statistics.SkippedSockets);
            Assert.Equal(tree.Count - 1, sink.Statistics.Entries);
        }
        var mtimes = TestEnvironment.RunChecked("python3", ["-c",
            "import tarfile,sys\nfor m in tarfile.open(sys.argv[1]): print(m.name, m.pax_headers.get('mtime', int(m.mtime)))", path]);
        Assert.Contains("a-ns 1650000000", mtimes);          // 1.7e9.987 clamped
        Assert.Contains("c-2345 1650000000", mtimes);
        Assert.Contains("b-1960 -315619199.75", mtimes);     // earlier times kept, fraction included
        Assert.DoesNotContain("u-socket", mtimes);
    }

    [Fact]
    public async Task StandardOutputGetsAPlainTar()
    {
        var ms = new MemoryStream();
        await using (var sink = SinkFactory.Create("-", new SinkFactoryOptions { StandardOutput = ms }))
        {
            sink.Add(SampleTrees.Dir(""));
            sink.Add(SampleTrees.File("hello", "hi\n"u8.ToArray()));
            sink.Complete();
        }
        var bytes = ms.ToArray();
        Assert.Equal(5 * 512, bytes.Length); // "./", "./hello", its data block, two zero blocks
        Assert.Equal("./", Encoding.ASCII.GetString(bytes, 0, 2));
        Assert.Equal("ustar\0" + "00", Encoding.ASCII.GetString(bytes, 257, 8));
        Assert.Equal("./hello", Encoding.ASCII.GetString(bytes, 512, 7));
    }

    [Theory]
    [InlineData("fail.tar")]
    [InlineData("fail.tar.gz")]
    [InlineData("fail.tar.zst")]
    public async Task FailingSourceLeavesNoOutputAndNoTemporaryFile(string name)
    {
        var dir = Temp();
        var path = Path.Combine(dir, name);
        var ex = await Assert.ThrowsAsync<ImageFormatException>(async () =>
        {
            await using var sink = SinkFactory.Create(path);
            sink.Add(SampleTrees.Dir(""));
            sink.Add(SampleTrees.File("ok", new byte[100_000]));
            sink.Add(SampleTrees.Content("broken", () => new FailingContent(10 << 20, 3 << 20), 10 << 20));
            sink.Complete();
        });
        Assert.Equal("test content", ex.Structure); // the source's own error, not a wrapper
        Assert.Empty(Directory.GetFileSystemEntries(dir));
    }

    [Fact]
    public async Task RejectsPathsEscapingTheArchive()
    {
        await using var sink = new TarSink(new MemoryStream());
        Assert.Throws<ImageFormatException>(() => sink.Add(SampleTrees.File("../x", [1])));
        Assert.Throws<ImageFormatException>(() => sink.Add(SampleTrees.HardLink("y", "/etc/passwd")));
    }
}
