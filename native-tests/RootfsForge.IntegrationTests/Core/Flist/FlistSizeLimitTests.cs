using System.Diagnostics;
using System.Security.Cryptography;
using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Flist;

/// <summary>
/// Sizes read from the input never make a <c>.fl</c> output crash, hang or grow memory. A <c>.fl</c> holds no
/// holes, so a file's block rows follow its apparent size: above the limit it is refused before any work (exit 3);
/// below it, holes are never read and cost one shared all-zero block.
/// </summary>
public class FlistSizeLimitTests
{
    private const long ChunkSize = 524_288;

    /// <summary>
    /// A pax tar with one GNU sparse 1.0 member of apparent size <paramref name="realSize"/> whose data is
    /// <paramref name="data"/> at <paramref name="dataOffset"/> (GNU tar manual, "Sparse Formats"; docs/tar-output.md).
    /// Written by python's tarfile, which knows nothing of sparse files: the records and the map are ours.
    /// </summary>
    private static string SparseTar(string dir, long realSize, long dataOffset, byte[] data)
    {
        var path = Path.Combine(dir, "sparse.tar");
        var dataFile = Path.Combine(dir, "data.bin");
        File.WriteAllBytes(dataFile, data);
        TestEnvironment.RunChecked("python3", ["-c", """
import sys, tarfile, io
path, real, off, datafile = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
data = open(datafile, 'rb').read()
m = f"1\n{off}\n{len(data)}\n".encode()
m += b"\0" * (-len(m) % 512)
body = m + data
with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as t:
    d = tarfile.TarInfo("big"); d.type = tarfile.DIRTYPE; d.mode = 0o755
    t.addfile(d)
    ti = tarfile.TarInfo("big/GNUSparseFile.0/file")
    ti.size = len(body); ti.mode = 0o644
    ti.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": "big/file",
                      "GNU.sparse.realsize": str(real)}
    t.addfile(ti, io.BytesIO(body))
""", path, realSize.ToString(), dataOffset.ToString(), dataFile]);
        return path;
    }

    private static (int Code, string Err, TimeSpan Elapsed, long PeakKiB) Pack(string dir, string tar)
    {
        var sw = Stopwatch.StartNew();
        var (code, _, err) = TestEnvironment.Run("/usr/bin/time", ["-f", "maxrss=%M", "dotnet", TestEnvironment.CliDll,
            "fl", "pack", tar, "-o", Path.Combine(dir, "out.fl"), "--store", $"dir://{dir}/store", "-q"], timeout: TimeSpan.FromMinutes(2));
        var rss = err.Split('\n').Select(l => l.Trim()).LastOrDefault(l => l.StartsWith("maxrss=", StringComparison.Ordinal));
        return (code, err, sw.Elapsed, rss is null ? 0 : long.Parse(rss["maxrss=".Length..]));
    }

    [SkippableTheory]
    [InlineData(1L << 50)]
    [InlineData(1L << 40)]
    public void HugeApparentSize_IsRefusedBeforeAnyWork(long realSize)
    {
        Skip.IfNot(File.Exists(TestEnvironment.CliDll), "the CLI is not built");
        TestEnvironment.RequireTool("python3");
        TestEnvironment.RequireTool("/usr/bin/time");
        var dir = TestEnvironment.NewTempDir("rff-fl-huge");
        var tar = SparseTar(dir, realSize, 4096, [1, 2, 3, 4]);
        var (code, err, elapsed, peakKiB) = Pack(dir, tar);
        Assert.True(code == 3, $"exit {code}: {err}");
        Assert.Contains("big/file", err);
        Assert.Contains(realSize.ToString(), err);
        Assert.DoesNotContain("Unhandled exception", err);
        Assert.True(elapsed < TimeSpan.FromSeconds(30), $"took {elapsed}");
        Assert.True(peakKiB is > 0 and < 400_000, $"peak RSS {peakKiB} KiB");
        Assert.False(File.Exists(Path.Combine(dir, "out.fl")));
        Assert.Empty(Directory.GetFiles(dir, ".out.fl*"));
    }

    [SkippableFact]
    public void SparseFileUnderTheLimit_CostsOneZeroBlock_AndReadsBackExactly()
    {
        Skip.IfNot(File.Exists(TestEnvironment.CliDll), "the CLI is not built");
        TestEnvironment.RequireTool("python3");
        TestEnvironment.RequireTool("/usr/bin/time");
        var dir = TestEnvironment.NewTempDir("rff-fl-sparse");
        const long realSize = 8L << 30; // 8 GiB apparent, 16,384 block rows
        const long offset = 5L << 30;
        var data = RandomNumberGenerator.GetBytes(3 * (int)ChunkSize / 2);
        var tar = SparseTar(dir, realSize, offset, data);
        var (code, err, elapsed, peakKiB) = Pack(dir, tar);
        Assert.True(code == 0, $"exit {code}: {err}");
        Assert.True(elapsed < TimeSpan.FromSeconds(60), $"took {elapsed}");
        Assert.True(peakKiB < 400_000, $"peak RSS {peakKiB} KiB");

        // The .fl itself, read by SQLite: one row per 512 KiB of the apparent size; the all-zero rows share one block.
        var fl = Path.Combine(dir, "out.fl");
        var rows = TestEnvironment.RunChecked("python3", ["-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); " +
            "r=c.execute(\"select count(*), count(distinct b.id) from block b join inode i on b.ino=i.ino where i.name='file'\").fetchone(); " +
            "print(r[0], r[1])", fl]).Trim();
        // 768 KiB of data at 5 GiB covers chunks 10240 and 10241: two data blocks plus the zero block.
        Assert.Equal($"{realSize / ChunkSize} 3", rows);

        // Reading it back through the store gives the data at its place and zeros around it (python hashes both).
        var dataFile = Path.Combine(dir, "data.bin");
        var (catCode, catOut, catErr) = TestEnvironment.Run("bash", ["-c",
            $"set -o pipefail; dotnet {TestEnvironment.CliDll} fl cat {fl} big/file --store dir://{dir}/store | python3 -c '" +
            "import sys,hashlib\n" +
            "h=hashlib.sha256(); n=0\n" +
            "while True:\n b=sys.stdin.buffer.read(1<<22)\n if not b: break\n h.update(b); n+=len(b)\n" +
            "e=hashlib.sha256(); z=bytes(1<<22); real,off=int(sys.argv[1]),int(sys.argv[2]); d=open(sys.argv[3],\"rb\").read(); at=0\n" +
            "while at<real:\n if at==off: e.update(d); at+=len(d); continue\n k=min(len(z),(off if at<off else real)-at); e.update(z[:k]); at+=k\n" +
            $"print(n==real and h.digest()==e.digest())' {realSize} {offset} {dataFile}"],
            timeout: TimeSpan.FromMinutes(3));
        Assert.True(catCode == 0, catErr);
        Assert.Equal("True", catOut.Trim());
    }

    [SkippableFact]
    public void Ext4InodeWithAbsurdSize_IsRefusedForAFlOutput()
    {
        Skip.IfNot(File.Exists(TestEnvironment.CliDll), "the CLI is not built");
        TestEnvironment.RequireTool("mke2fs");
        TestEnvironment.RequireTool("debugfs");
        TestEnvironment.RequireTool("/usr/bin/time");
        var dir = TestEnvironment.NewTempDir("rff-fl-isize");
        var tree = Path.Combine(dir, "tree");
        Directory.CreateDirectory(tree);
        File.WriteAllText(Path.Combine(tree, "x"), "small\n");
        var img = Path.Combine(dir, "fs.img");
        TestEnvironment.RunChecked("mke2fs", ["-q", "-F", "-t", "ext4", "-d", tree, img, "16M"]);
        // i_size 2^47 - 1 on a file with one block: what random flips once reached (4.2 GB RSS, then OOM).
        TestEnvironment.RunChecked("debugfs", ["-w", "-R", "sif /x size 0x7fffffffffff", img]);
        var sw = Stopwatch.StartNew();
        var (code, _, err) = TestEnvironment.Run("/usr/bin/time", ["-f", "maxrss=%M", "dotnet", TestEnvironment.CliDll,
            "extract", img, "-o", Path.Combine(dir, "out.fl"), "--store", $"dir://{dir}/store", "-q"], timeout: TimeSpan.FromMinutes(2));
        Assert.True(code == 3, $"exit {code}: {err}");
        Assert.Contains("'x'", err);
        Assert.Contains((0x7fffffffffffL).ToString(), err);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(30), $"took {sw.Elapsed}");
        var rss = err.Split('\n').Select(l => l.Trim()).Last(l => l.StartsWith("maxrss=", StringComparison.Ordinal));
        Assert.True(long.Parse(rss["maxrss=".Length..]) < 400_000, rss);
        Assert.False(File.Exists(Path.Combine(dir, "out.fl")));
    }
}
