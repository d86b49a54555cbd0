using RootfsForge.NativeTests.Sinks;
using RootfsForge.NativeTests.Support;
using RootfsForge.Tar;
using RootfsForge.Tree;
using Xunit;

namespace RootfsForge.NativeTests.Tar;

/// <summary>
/// The tar reader against real oracles: archives written by GNU tar and by Python's tarfile, compared with what GNU tar
/// extracts from them (seen through Python's lstat) and with what Python's tarfile reads from them.
/// </summary>
public class TarOracleTests : TempDirectories
{
    /// <summary>
    /// <see cref="SourceTests.MakeRealDirectory"/> plus what only long-name mechanisms carry: a path of 300 bytes, a
    /// 150-byte symlink target, a hard link under a long name, and a file later replaced in a second archive pass.
    /// </summary>
    private string MakeDirectory(bool withDevices)
    {
        var dir = Track(SourceTests.MakeRealDirectory(withDevices));
        var longDir = Path.Combine(dir, new string('d', 120), new string('e', 120));
        Directory.CreateDirectory(longDir);
        File.WriteAllText(Path.Combine(longDir, new string('f', 60)), "deep");
        File.CreateSymbolicLink(Path.Combine(dir, "long-target"), "../" + new string('t', 150));
        TestEnvironment.RunChecked("ln", [Path.Combine(dir, "etc/passwd"), Path.Combine(longDir, "hard-" + new string('h', 40))]);
        return dir;
    }

    [SkippableTheory]
    [InlineData("posix", "1.0")]
    [InlineData("posix", "0.1")]
    [InlineData("posix", "0.0")]
    [InlineData("gnu", null)]
    [InlineData("oldgnu", null)]
    public async Task ReadsWhatGnuTarExtracts(string format, string? sparseVersion)
    {
        TestEnvironment.RequireRoot("GNU tar restores owners and device nodes only as root");
        TestEnvironment.RequireTool("tar");
        TestEnvironment.RequireTool("setfattr");
        var dir = MakeDirectory(withDevices: true);
        var work = Temp();
        var tar = Path.Combine(work, "gnu.tar");
        bool xattrs = format == "posix";
        var create = new List<string> { "--sparse", $"--format={format}", "-cf", tar, "-C", dir, "." };
        if (sparseVersion is not null) create.Insert(0, $"--sparse-version={sparseVersion}");
        if (xattrs) create.InsertRange(0, ["--xattrs", "--xattrs-include=*"]);
        TestEnvironment.RunChecked("tar", create);
        var extracted = Path.Combine(work, "out");
        Directory.CreateDirectory(extracted);
        var extract = new List<string> { "--numeric-owner", "-xpf", tar, "-C", extracted };
        if (xattrs) extract.InsertRange(0, ["--xattrs", "--xattrs-include=*"]);
        TestEnvironment.RunChecked("tar", extract);

        using var source = new TarArchiveSource(tar);
        var entries = await source.WalkAsync().ToListAsync();
        Assert.Empty(source.Warnings);
        TreeDump.AssertSame(TreeDump.OfDirectory(extracted, skipXattrs: !xattrs), TreeDump.OfEntries(entries, skipXattrs: !xattrs));
        using var sparse = entries.Single(e => e.Path == "sparse.img").OpenContent!();
        Assert.True(sparse.GetDataSegments().Sum(s => s.Length) < 1 << 20, "GNU tar's sparse map was not used");
    }

    /// <summary>
    /// An archive appended to (<c>tar -r</c>): later members replace earlier ones of the same name, file by symlink and
    /// symlink by file, as GNU tar's extraction leaves them.
    /// </summary>
    [SkippableFact]
    public async Task LaterMembersReplaceEarlierOnesAsGnuTarExtracts()
    {
        TestEnvironment.RequireTool("tar");
        TestEnvironment.RequireTool("python3");
        var work = Temp();
        var one = Path.Combine(work, "one");
        var two = Path.Combine(work, "two");
        TestEnvironment.RunChecked("bash", ["-c", """
            set -e
            mkdir -p "$1/d" "$2/d"
            echo first > "$1/d/file"; ln -s file "$1/d/link"; echo old > "$1/d/same"
            ln -s elsewhere "$2/d/file"; echo now-a-file > "$2/d/link"; echo new > "$2/d/same"
            touch -d @1600000000 "$1/d" "$2/d" "$1/d/same" "$2/d/same"
            """, "bash", one, two]);
        var tar = Path.Combine(work, "x.tar");
        TestEnvironment.RunChecked("tar", ["--format=posix", "-cf", tar, "-C", one, "."]);
        TestEnvironment.RunChecked("tar", ["--format=posix", "-rf", tar, "-C", two, "."]);
        var extracted = Path.Combine(work, "out");
        Directory.CreateDirectory(extracted);
        TestEnvironment.RunChecked("tar", ["--numeric-owner", "-xpf", tar, "-C", extracted]);

        using var source = new TarArchiveSource(tar);
        var entries = await source.WalkAsync().ToListAsync();
        TreeDump.AssertSame(TreeDump.OfDirectory(extracted, skipXattrs: true), TreeDump.OfEntries(entries, skipXattrs: true));
    }

    private const string PythonArchiveScript = """
import io, os, sys, tarfile
out, fmtname = sys.argv[1], sys.argv[2]
fmt = getattr(tarfile, fmtname)
pax = {'uid': '4242', 'comment': 'a global header'} if fmtname == 'PAX_FORMAT' else None
ustar = fmtname == 'USTAR_FORMAT'
with tarfile.open(out, 'w', format=fmt, pax_headers=pax, encoding='utf-8', errors='surrogateescape') as t:
    def add(name, kind, data=None, mode=0o644, link='', uid=0, mtime=1234567890, dev=(0, 0)):
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.linkname, ti.uid, ti.gid, ti.mtime = kind, mode, link, uid, 7, mtime
        ti.devmajor, ti.devminor = dev
        if data is not None: ti.size = len(data)
        t.addfile(ti, io.BytesIO(data) if data is not None else None)
    add('./', tarfile.DIRTYPE, mode=0o755)
    add('etc', tarfile.DIRTYPE, mode=0o755)
    add('etc/passwd', tarfile.REGTYPE, b'root:x:0:0\n', mode=0o600)
    add('etc/hard', tarfile.LNKTYPE, link='etc/passwd')
    add('etc/dup', tarfile.REGTYPE, b'first')
    add('etc/dup', tarfile.SYMTYPE, link='passwd', mode=0o777)
    add('dev', tarfile.DIRTYPE, mode=0o755)
    add('dev/null', tarfile.CHRTYPE, mode=0o666, dev=(1, 3))
    add('dev/sda1', tarfile.BLKTYPE, mode=0o660, dev=(8, 1))
    add('dev/fifo', tarfile.FIFOTYPE, mode=0o600)
    deep = 'd/' + 'x' * (95 if ustar else 150)
    leaf = 'y' * (90 if ustar else 120)
    add('d', tarfile.DIRTYPE, mode=0o700)
    add(deep, tarfile.DIRTYPE, mode=0o750)
    add(deep + '/' + leaf, tarfile.REGTYPE, b'deep content', mode=0o640)
    add('sym', tarfile.SYMTYPE, link=('../' + 'z' * (90 if ustar else 200)), mode=0o777)
    add('setuid', tarfile.REGTYPE, b'#!/bin/sh\n', mode=0o4755)
    if not ustar:
        add('big-uid', tarfile.REGTYPE, b'x', uid=3000000)
        add(os.fsdecode(b'name-\xff\xfe'), tarfile.REGTYPE, b'not utf-8')
    if fmtname == 'PAX_FORMAT':
        add('half-second', tarfile.REGTYPE, b'y', mtime=1234567890.5)
""";

    private const string PythonListScript = """
import hashlib, os, sys, tarfile
def key(n):
    return '/'.join(p for p in n.split('/') if p not in ('', '.'))
with tarfile.open(sys.argv[1], encoding='utf-8', errors='surrogateescape') as t:
    members = {}
    for m in t.getmembers():
        members[key(m.name)] = m
    out = []
    for k, m in members.items():
        shown = members[key(m.linkname)] if m.islnk() else m
        kind = ('dir' if shown.isdir() else 'reg' if shown.isreg() else 'sym' if shown.issym() else 'chr' if shown.ischr()
                else 'blk' if shown.isblk() else 'fifo' if shown.isfifo() else 'other')
        sha = hashlib.sha256(t.extractfile(m).read()).hexdigest() if kind == 'reg' else '-'
        link = os.fsencode(shown.linkname).hex() if kind == 'sym' else '-'
        dev = f'{shown.devmajor}:{shown.devminor}' if kind in ('chr', 'blk') else '-'
        mt = shown.mtime
        s = int(mt // 1)
        ns = round((mt - s) * 1e9)
        out.append(f'{os.fsencode(k).hex()}\t{kind}\t{shown.mode & 0o7777:o}\t{shown.uid}\t{shown.gid}\t{s}.{ns:09d}\t{shown.size if kind == "reg" else 0}\t{dev}\t{link}\t{sha}')
    print('\n'.join(sorted(out)))
""";

    [SkippableTheory]
    [InlineData("PAX_FORMAT")]
    [InlineData("GNU_FORMAT")]
    [InlineData("USTAR_FORMAT")]
    public async Task ReadsWhatPythonTarfileReads(string format)
    {
        TestEnvironment.RequireTool("python3");
        var tar = Path.Combine(Temp(), "py.tar");
        TestEnvironment.RunChecked("python3", ["-c", PythonArchiveScript, tar, format]);
        var expected = TestEnvironment.RunChecked("python3", ["-c", PythonListScript, tar]).Split('\n', StringSplitOptions.RemoveEmptyEntries);

        using var source = new TarArchiveSource(tar);
        var actual = new List<string>();
        await foreach (var e in source.WalkAsync())
        {
            string kind = e.Type switch
            {
                EntryType.Directory => "dir", EntryType.RegularFile or EntryType.HardLink => "reg", EntryType.SymbolicLink => "sym",
                EntryType.CharacterDevice => "chr", EntryType.BlockDevice => "blk", EntryType.Fifo => "fifo", _ => "other",
            };
            string sha = "-";
            if (kind == "reg")
            {
                using var c = e.OpenContent!();
                using var s = c.OpenStream();
                sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(s));
            }
            string link = kind == "sym" ? Convert.ToHexStringLower(FileNameEncoding.GetBytes(e.LinkTarget!)) : "-";
            string dev = kind is "chr" or "blk" ? $"{e.DeviceMajor}:{e.DeviceMinor}" : "-";
            var m = e.ModificationTime;
            actual.Add($"{Convert.ToHexStringLower(FileNameEncoding.GetBytes(e.Path))}\t{kind}\t{Convert.ToString(e.Permissions, 8)}\t{e.Uid}\t{e.Gid}\t" +
                $"{m.Seconds}.{m.Nanoseconds:D9}\t{(kind == "reg" ? e.Size : 0)}\t{dev}\t{link}\t{sha}");
        }
        actual.Sort(StringComparer.Ordinal);
        Assert.Empty(source.Warnings);
        TreeDump.AssertSame(expected, actual.ToArray());
    }
}
