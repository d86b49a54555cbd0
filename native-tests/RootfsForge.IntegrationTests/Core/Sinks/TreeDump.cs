using System.Security.Cryptography;
using System.Text;
using RootfsForge.NativeTests.Support;
using RootfsForge.Tree;

namespace RootfsForge.NativeTests.Sinks;

/// <summary>
/// One line per entry, produced two independent ways: by Python's os.lstat/os.listxattr on a real directory (the oracle),
/// and from TreeEntry lists (the expectation). Hard links print only their first path.
/// </summary>
internal static class TreeDump
{
    private const string Script = """
import os, sys, stat, hashlib
root = os.fsencode(sys.argv[1])
noxattr = sys.argv[2] == '1' if len(sys.argv) > 2 else False
seen = {}
out = []
def xattrs(p):
    if noxattr: return '-'
    try:
        names = sorted(os.listxattr(p, follow_symlinks=False))
    except OSError:
        return '-'
    items = []
    for n in names:
        items.append(n + '=' + os.getxattr(p, n, follow_symlinks=False).hex())
    return ','.join(items) or '-'
def visit(rel):
    p = os.path.join(root, rel) if rel else root
    st = os.lstat(p)
    m = st.st_mode
    h = rel.hex()
    if stat.S_ISREG(m) and st.st_nlink > 1:
        key = (st.st_dev, st.st_ino)
        if key in seen:
            out.append(f"{h}\thardlink\t{seen[key].hex()}")
            return
        seen[key] = rel
    kind = ('dir' if stat.S_ISDIR(m) else 'reg' if stat.S_ISREG(m) else 'sym' if stat.S_ISLNK(m) else
            'chr' if stat.S_ISCHR(m) else 'blk' if stat.S_ISBLK(m) else 'fifo' if stat.S_ISFIFO(m) else 'sock')
    s, ns = divmod(st.st_mtime_ns, 10**9)
    size = st.st_size if kind in ('reg', 'sym') else 0
    dev = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}" if kind in ('chr', 'blk') else '-'
    link = os.readlink(p).hex() if kind == 'sym' else '-'
    sha = '-'
    if kind == 'reg':
        d = hashlib.sha256()
        with open(p, 'rb') as f:
            while True:
                b = f.read(1 << 20)
                if not b: break
                d.update(b)
        sha = d.hexdigest()
    out.append(f"{h}\t{kind}\t{stat.S_IMODE(m):o}\t{st.st_uid}\t{st.st_gid}\t{s}.{ns:09d}\t{size}\t{dev}\t{link}\t{xattrs(p)}\t{sha}")
    if kind == 'dir':
        for name in sorted(os.listdir(p)):
            visit(os.path.join(rel, name) if rel else name)
visit(b'')
sys.stdout.write('\n'.join(out) + '\n')
""";

    /// <summary>The oracle: Python's view of a real directory.</summary>
    public static string[] OfDirectory(string root, bool skipXattrs = false)
    {
        TestEnvironment.RequireTool("python3");
        var output = TestEnvironment.RunChecked("python3", ["-c", Script, root, skipXattrs ? "1" : "0"]);
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    /// <summary>The expectation for a tree; <paramref name="include"/> filters entries the output cannot hold.</summary>
    public static string[] OfEntries(IEnumerable<TreeEntry> entries, bool skipXattrs = false, Func<TreeEntry, bool>? include = null)
    {
        var lines = new List<string>();
        foreach (var e in entries)
        {
            if (include is not null && !include(e)) continue;
            string h = Convert.ToHexStringLower(FileNameEncoding.GetBytes(e.Path));
            if (e.Type == EntryType.HardLink)
            {
                lines.Add($"{h}\thardlink\t{Convert.ToHexStringLower(FileNameEncoding.GetBytes(e.LinkTarget!))}");
                continue;
            }
            string kind = e.Type switch
            {
                EntryType.Directory => "dir", EntryType.RegularFile => "reg", EntryType.SymbolicLink => "sym",
                EntryType.CharacterDevice => "chr", EntryType.BlockDevice => "blk", EntryType.Fifo => "fifo", _ => "sock",
            };
            string perm = e.Type == EntryType.SymbolicLink ? "777" : Convert.ToString(e.Permissions & 0xFFF, 8);
            long size = 0;
            string sha = "-";
            if (e.Type == EntryType.RegularFile)
            {
                using var c = e.OpenContent!();
                size = c.Length;
                sha = c is SparseContent sc ? sc.Sha256() : HashAll(c);
            }
            else if (e.Type == EntryType.SymbolicLink)
            {
                size = FileNameEncoding.GetBytes(e.LinkTarget!).Length;
            }
            string dev = e.Type is EntryType.CharacterDevice or EntryType.BlockDevice ? $"{e.DeviceMajor}:{e.DeviceMinor}" : "-";
            string link = e.Type == EntryType.SymbolicLink ? Convert.ToHexStringLower(FileNameEncoding.GetBytes(e.LinkTarget!)) : "-";
            string x = skipXattrs || e.ExtendedAttributes.Count == 0
                ? "-"
                : string.Join(',', e.ExtendedAttributes.OrderBy(a => a.Name, StringComparer.Ordinal)
                    .Select(a => a.Name + "=" + Convert.ToHexStringLower(a.Value)));
            var m = e.ModificationTime;
            lines.Add($"{h}\t{kind}\t{perm}\t{e.Uid}\t{e.Gid}\t{m.Seconds}.{m.Nanoseconds:D9}\t{size}\t{dev}\t{link}\t{x}\t{sha}");
        }
        return lines.ToArray();
    }

    private static string HashAll(FileContent c)
    {
        using var s = c.OpenStream();
        return Convert.ToHexStringLower(SHA256.HashData(s));
    }

    /// <summary>Asserts equality line by line with a readable first difference.</summary>
    public static void AssertSame(string[] expected, string[] actual)
    {
        var sb = new StringBuilder();
        int n = Math.Max(expected.Length, actual.Length);
        for (int i = 0; i < n; i++)
        {
            string e = i < expected.Length ? expected[i] : "<none>";
            string a = i < actual.Length ? actual[i] : "<none>";
            if (e != a) sb.Append($"line {i}:\n  expected {e}\n  actual   {a}\n");
        }
        Xunit.Assert.True(sb.Length == 0, "trees differ:\n" + sb);
    }
}
