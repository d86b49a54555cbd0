using RootfsForge.NativeTests.Support;

namespace RootfsForge.NativeTests.Tar;

/// <summary>
/// Archives written, and read, by Python's <c>tarfile</c>: an implementation independent of RootfsForge's, used to make
/// test layers member by member (whiteouts, hostile names, hard links to lower layers) and as a reading oracle.
/// </summary>
internal static class PythonTar
{
    /// <summary>The modification time of every member written by <see cref="Write"/>.</summary>
    public const long MTime = 1_700_000_000;

    private const string WriteScript = """
import io, sys, tarfile
out, fmt = sys.argv[1], getattr(tarfile, sys.argv[2])
with tarfile.open(out, 'w', format=fmt, encoding='utf-8', errors='surrogateescape') as t:
    for spec in sys.argv[3:]:
        kind, name, value, mode = spec.split('\t')
        ti = tarfile.TarInfo(name)
        ti.mtime = 1700000000
        ti.mode = int(mode, 8)
        data = None
        if kind == 'dir': ti.type = tarfile.DIRTYPE
        elif kind == 'file':
            ti.type = tarfile.REGTYPE
            data = value.encode()
            ti.size = len(data)
        elif kind == 'sym': ti.type, ti.linkname = tarfile.SYMTYPE, value
        elif kind == 'link': ti.type, ti.linkname = tarfile.LNKTYPE, value
        elif kind == 'fifo': ti.type = tarfile.FIFOTYPE
        else: raise SystemExit('unknown kind ' + kind)
        t.addfile(ti, io.BytesIO(data) if data is not None else None)
""";

    /// <summary>
    /// Writes <paramref name="path"/> with one member per spec, in order: <c>"dir NAME [MODE]"</c>,
    /// <c>"file NAME [CONTENT [MODE]]"</c>, <c>"sym NAME TARGET"</c>, <c>"link NAME TARGET"</c>, <c>"fifo NAME"</c>
    /// (space-separated; names and values without spaces). Modes default to 0755 for directories, 0644 otherwise.
    /// </summary>
    public static string Write(string path, params string[] members)
    {
        TestEnvironment.RequireTool("python3");
        var args = new List<string> { "-c", WriteScript, path, "PAX_FORMAT" };
        foreach (var member in members)
        {
            var p = member.Split(' ');
            string kind = p[0], name = p[1];
            string value = kind is "file" or "sym" or "link" && p.Length > 2 ? p[2] : "";
            int modeAt = kind is "file" or "sym" or "link" ? 3 : 2;
            string mode = p.Length > modeAt ? p[modeAt] : kind == "dir" ? "755" : kind == "sym" ? "777" : "644";
            args.Add($"{kind}\t{name}\t{value}\t{mode}");
        }
        TestEnvironment.RunChecked("python3", args);
        return path;
    }
}
