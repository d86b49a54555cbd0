namespace RootfsForge.Definitions;

/// <summary>
/// The packages installed in a tree, from the package manager's own database: dpkg's <c>/var/lib/dpkg/status</c>
/// (deb822 paragraphs; only <c>Status: install ok installed</c>) or apk's <c>/lib/apk/db/installed</c> (<c>P:</c>,
/// <c>V:</c>, <c>A:</c> lines). An rpm database is a sqlite/BDB file this does not read: such a tree lists none.
/// </summary>
internal static class InstalledPackages
{
    public static IReadOnlyList<ManifestPackage> Read(string root)
    {
        var dpkg = Path.Combine(root, "var/lib/dpkg/status");
        var apk = Path.Combine(root, "lib/apk/db/installed");
        var list = new List<ManifestPackage>();
        if (IsRegularFile(dpkg))
        {
            foreach (var paragraph in Paragraphs(File.ReadAllText(dpkg)))
            {
                if (paragraph.GetValueOrDefault("Status") != "install ok installed") continue;
                if (paragraph.TryGetValue("Package", out var name) && paragraph.TryGetValue("Version", out var version))
                    list.Add(new ManifestPackage(name, version, paragraph.GetValueOrDefault("Architecture")));
            }
        }
        else if (IsRegularFile(apk))
        {
            string? name = null, version = null, arch = null;
            foreach (var line in File.ReadAllLines(apk).Append(""))
            {
                if (line.Length == 0)
                {
                    if (name is not null && version is not null) list.Add(new ManifestPackage(name, version, arch));
                    name = version = arch = null;
                }
                else if (line.StartsWith("P:", StringComparison.Ordinal)) name = line[2..];
                else if (line.StartsWith("V:", StringComparison.Ordinal)) version = line[2..];
                else if (line.StartsWith("A:", StringComparison.Ordinal)) arch = line[2..];
            }
        }
        return [.. list.OrderBy(p => p.Name, StringComparer.Ordinal).ThenBy(p => p.Architecture, StringComparer.Ordinal)];
    }

    /// <summary>A tree's database file must not be a symlink (it could point at the host's).</summary>
    private static bool IsRegularFile(string path) => new FileInfo(path) is { Exists: true, LinkTarget: null };

    /// <summary>deb822 paragraphs: <c>Field: value</c>, continuation lines start with a space, blank lines separate.</summary>
    private static IEnumerable<Dictionary<string, string>> Paragraphs(string text)
    {
        var current = new Dictionary<string, string>(StringComparer.Ordinal);
        string? last = null;
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0)
            {
                if (current.Count > 0) yield return current;
                current = new Dictionary<string, string>(StringComparer.Ordinal);
                last = null;
            }
            else if (line[0] is ' ' or '\t')
            {
                if (last is not null) current[last] += "\n" + line.Trim();
            }
            else if (line.IndexOf(':') is int colon and > 0)
            {
                last = line[..colon];
                current[last] = line[(colon + 1)..].Trim();
            }
        }
        if (current.Count > 0) yield return current;
    }
}
