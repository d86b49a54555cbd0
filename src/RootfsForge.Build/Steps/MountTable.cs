using System.Text;

namespace RootfsForge.Steps;

/// <summary>Reads /proc/self/mountinfo (proc(5)): which mount points lie at or below a path.</summary>
internal static class MountTable
{
    /// <summary>Mount points equal to or below <paramref name="path"/>, deepest first (the order to unmount them).</summary>
    public static IReadOnlyList<string> MountsUnder(string path)
    {
        var root = System.IO.Path.GetFullPath(path).TrimEnd('/');
        var result = new List<string>();
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            // Fields: id parent major:minor root mount-point options ... ; the mount point is field 5 (octal-escaped).
            var fields = line.Split(' ');
            if (fields.Length < 5) continue;
            var mountPoint = Unescape(fields[4]);
            if (mountPoint == root || mountPoint.StartsWith(root + "/", StringComparison.Ordinal)) result.Add(mountPoint);
        }
        return result.OrderByDescending(m => m.Count(c => c == '/')).ThenByDescending(m => m, StringComparer.Ordinal).ToList();
    }

    private static string Unescape(string s)
    {
        if (!s.Contains('\\')) return s;
        var bytes = new List<byte>(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == '\\' && IsOctal(s, i + 1))
            {
                bytes.Add((byte)Convert.ToInt32(s.Substring(i + 1, 3), 8));
                i += 3;
            }
            else
            {
                bytes.AddRange(Encoding.UTF8.GetBytes(s[i].ToString()));
            }
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    private static bool IsOctal(string s, int at) =>
        at + 3 <= s.Length && s[at] is >= '0' and <= '7' && s[at + 1] is >= '0' and <= '7' && s[at + 2] is >= '0' and <= '7';
}
