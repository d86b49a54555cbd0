using System.Text;
using RootfsForge.NativeTests.Support;

namespace RootfsForge.NativeTests.Oci;

/// <summary>
/// One line per entry of a root filesystem, made by Python alone (<c>os.lstat</c>/<c>os.listxattr</c> on a directory,
/// <c>tarfile</c> on a tar, tar.gz or tar.zst): the oracle side of the container tests, and the reader of rootfsforge's
/// outputs, so no RootfsForge code reads what RootfsForge wrote. Fields: path, type, permissions, uid:gid, mtime,
/// size, device, symlink target, xattrs (name=hex), sha256. Hard links: every name but the first (in walk order: names
/// compared component by component, by bytes) is <c>PATH hardlink FIRST</c>, so hard-link groups are compared too.
/// </summary>
internal static class RootfsDump
{
    /// <summary>What the compared outputs can hold.</summary>
    /// <param name="Xattrs">Compare extended attributes.</param>
    /// <param name="MtimeResolutionNs">Compare mtimes divided by this (1 = nanoseconds, 1e9 = whole seconds, 0 = not at all).</param>
    /// <param name="HardLinks">Print hard links as groups; false prints every name as a file of its own.</param>
    public sealed record Options(bool Xattrs = true, long MtimeResolutionNs = 1, bool HardLinks = true)
    {
        /// <summary>Everything a directory or a pax tar holds.</summary>
        public static Options Full { get; } = new();

        /// <summary>What a .fl holds (docs/flist-format.md §2.2–2.3): no xattrs, whole seconds, no hard links.</summary>
        public static Options Flist { get; } = new(Xattrs: false, MtimeResolutionNs: 1_000_000_000, HardLinks: false);
    }

    private const string Script = """
import os, sys, stat, hashlib, tarfile, subprocess, io, decimal
src, xattrs_on, res, links_on = sys.argv[1], sys.argv[2] == '1', int(sys.argv[3]), sys.argv[4] == '1'
def sha(f):
    d = hashlib.sha256()
    while True:
        b = f.read(1 << 20)
        if not b: return d.hexdigest()
        d.update(b)
def kind_of(m):
    return ('dir' if stat.S_ISDIR(m) else 'reg' if stat.S_ISREG(m) else 'sym' if stat.S_ISLNK(m) else
            'chr' if stat.S_ISCHR(m) else 'blk' if stat.S_ISBLK(m) else 'fifo' if stat.S_ISFIFO(m) else 'sock')
def from_dir(root):
    root = os.fsencode(root)
    nodes = {}
    def visit(rel):
        p = os.path.join(root, rel) if rel else root
        st = os.lstat(p)
        kind = kind_of(st.st_mode)
        try:
            xs = {n.encode('utf-8', 'surrogateescape'): os.getxattr(p, n, follow_symlinks=False)
                  for n in os.listxattr(p, follow_symlinks=False)}
        except OSError:
            xs = {}
        n = dict(kind=kind, mode=stat.S_IMODE(st.st_mode), uid=st.st_uid, gid=st.st_gid, mtime=st.st_mtime_ns,
                 size=st.st_size if kind == 'reg' else 0, link=os.readlink(p) if kind == 'sym' else None, xattrs=xs,
                 dev=(os.major(st.st_rdev), os.minor(st.st_rdev)) if kind in ('chr', 'blk') else None,
                 inode=(st.st_dev, st.st_ino) if kind == 'reg' else None)
        if kind == 'reg':
            with open(p, 'rb') as f: n['sha'] = sha(f)
        nodes[rel] = n
        if kind == 'dir':
            for name in os.listdir(p): visit(os.path.join(rel, name) if rel else name)
    visit(b'')
    return nodes
def clean(name):
    name = os.fsencode(name)
    while name.startswith(b'./'): name = name[2:]
    name = name.rstrip(b'/')
    return b'' if name == b'.' else name
def from_tar(path):
    # A tar lists only what it holds: the root, when absent, is what extraction into an empty directory leaves.
    nodes = {b'': dict(kind='dir', mode=0o755, uid=0, gid=0, mtime=0, size=0, link=None, xattrs={}, dev=None, inode=None)}
    if path.endswith('.zst'):
        data = subprocess.run(['zstd', '-dc', path], check=True, stdout=subprocess.PIPE).stdout
        t = tarfile.open(fileobj=io.BytesIO(data), mode='r:')
    else:
        t = tarfile.open(path, 'r:*')
    with t:
        for m in t:
            name = clean(m.name)
            px = m.pax_headers
            # pax mtime as written (tarfile's float loses the nanoseconds)
            mtime = int(decimal.Decimal(px['mtime']) * 10**9) if 'mtime' in px else int(m.mtime) * 10**9
            if m.islnk():
                nodes[name] = nodes[clean(m.linkname)]
                continue
            kind = ('dir' if m.isdir() else 'reg' if m.isreg() else 'sym' if m.issym() else 'chr' if m.ischr() else
                    'blk' if m.isblk() else 'fifo' if m.isfifo() else 'other')
            xs = {k[len('SCHILY.xattr.'):].encode('utf-8', 'surrogateescape'): v.encode('utf-8', 'surrogateescape')
                  for k, v in px.items() if k.startswith('SCHILY.xattr.')}
            n = dict(kind=kind, mode=m.mode & 0o7777, uid=m.uid, gid=m.gid, mtime=mtime, size=m.size if kind == 'reg' else 0,
                     link=os.fsencode(m.linkname) if kind == 'sym' else None, xattrs=xs,
                     dev=(m.devmajor, m.devminor) if kind in ('chr', 'blk') else None, inode=object() if kind == 'reg' else None)
            if kind == 'reg': n['sha'] = sha(t.extractfile(m))
            nodes[name] = n
    return nodes
nodes = from_dir(src) if os.path.isdir(src) else from_tar(src)
first = {}
out = []
text = lambda b: b.decode('utf-8', 'surrogateescape').encode('unicode_escape').decode('ascii')
for p in sorted(nodes, key=lambda p: p.split(b'/') if p else []):
    n = nodes[p]
    if links_on and n['inode'] is not None:
        key = id(n) if not isinstance(n['inode'], tuple) else n['inode']
        if key in first:
            out.append(f"{text(p)}\thardlink\t{text(first[key])}")
            continue
        first[key] = p
    mt = '-' if res == 0 else str(n['mtime'] // res)
    xs = '-' if not xattrs_on else (','.join(f"{text(k)}={v.hex()}" for k, v in sorted(n['xattrs'].items())) or '-')
    link = text(n['link']) if n['link'] is not None else '-'
    dev = f"{n['dev'][0]}:{n['dev'][1]}" if n['dev'] else '-'
    mode = '777' if n['kind'] == 'sym' else f"{n['mode']:o}"
    out.append(f"{text(p) or '/'}\t{n['kind']}\t{mode}\t{n['uid']}:{n['gid']}\t{mt}\t{n['size']}\t{dev}\t{link}\t{xs}\t{n.get('sha', '-')}")
sys.stdout.write('\n'.join(out) + '\n')
""";

    /// <summary>The lines of a directory, or of a tar / tar.gz / tar.zst file.</summary>
    public static string[] Of(string directoryOrTar, Options? options = null)
    {
        options ??= Options.Full;
        TestEnvironment.RequireTool("python3");
        var output = TestEnvironment.RunChecked("python3", ["-c", Script, directoryOrTar, options.Xattrs ? "1" : "0",
            options.MtimeResolutionNs.ToString(System.Globalization.CultureInfo.InvariantCulture), options.HardLinks ? "1" : "0"]);
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    /// <summary>The line of one path (no leading slash; "/" for the root), or null.</summary>
    public static string? Line(string[] dump, string path) =>
        dump.FirstOrDefault(l => l.StartsWith(path + "\t", StringComparison.Ordinal));

    /// <summary>The dump with the mtime of <paramref name="paths"/> replaced by <c>*</c> (where the oracle's time is not the image's).</summary>
    public static string[] WithoutMtime(string[] dump, params string[] paths) => dump.Select(l =>
    {
        var f = l.Split('\t');
        return f.Length > 4 && paths.Contains(f[0]) ? string.Join('\t', f.Select((x, i) => i == 4 ? "*" : x)) : l;
    }).ToArray();

    /// <summary>Asserts equal dumps, listing every line only one side has.</summary>
    public static void AssertSame(string[] oracle, string[] actual, string what)
    {
        var missing = oracle.Except(actual).ToList();
        var extra = actual.Except(oracle).ToList();
        if (missing.Count == 0 && extra.Count == 0 && oracle.SequenceEqual(actual)) return;
        var sb = new StringBuilder($"{what}: differs from the oracle\n");
        foreach (var l in missing.Take(40)) sb.Append("  oracle only: ").Append(l).Append('\n');
        foreach (var l in extra.Take(40)) sb.Append("  output only: ").Append(l).Append('\n');
        if (missing.Count == 0 && extra.Count == 0) sb.Append("  (same lines, different order)\n");
        Xunit.Assert.Fail(sb.ToString());
    }
}
