namespace RootfsForge.Steps;

/// <summary>The initramfs generators the kernel step knows.</summary>
public enum InitramfsTool
{
    /// <summary>Debian/Ubuntu initramfs-tools (update-initramfs).</summary>
    InitramfsTools,
    /// <summary>dracut (Fedora, RHEL family, openSUSE).</summary>
    Dracut,
    /// <summary>Alpine mkinitfs.</summary>
    Mkinitfs,
}

/// <summary>
/// One distro family's kernel facts, from <c>kernels/&lt;family&gt;.yaml</c> (embedded in the library): which os-release
/// IDs it covers, which kernel package to install when the image has none, which initramfs tool it uses, and whether a
/// virtio-fs boot was verified.
/// </summary>
/// <param name="Family">The file name without extension.</param>
/// <param name="Ids">os-release ID / ID_LIKE values it matches.</param>
/// <param name="Package">The virtual/cloud kernel package.</param>
/// <param name="Initramfs">The initramfs generator.</param>
/// <param name="Verified">True when a virtio-fs root boot was seen to work.</param>
public sealed record KernelDefinition(string Family, IReadOnlyList<string> Ids, string Package, InitramfsTool Initramfs, bool Verified)
{
    /// <summary>All definitions shipped with the library.</summary>
    public static IReadOnlyList<KernelDefinition> All { get; } = LoadEmbedded();

    /// <summary>The definition for a tree, from its /etc/os-release (ID first, then ID_LIKE); null when unknown.</summary>
    public static KernelDefinition? ForTree(string root)
    {
        using var tree = new StagingRoot(root);
        return ForTree(tree);
    }

    internal static KernelDefinition? ForTree(StagingRoot tree)
    {
        var text = tree.ReadAllText("etc/os-release") ?? tree.ReadAllText("usr/lib/os-release");
        if (text is null) return null;
        var values = OsRelease(text);
        var ids = new List<string>();
        if (values.TryGetValue("ID", out var id)) ids.Add(id);
        if (values.TryGetValue("ID_LIKE", out var like)) ids.AddRange(like.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        foreach (var i in ids)
            if (All.FirstOrDefault(d => d.Ids.Contains(i)) is { } def) return def;
        return null;
    }

    /// <summary>Parses os-release(5) KEY=value lines (values optionally quoted).</summary>
    public static Dictionary<string, string> OsRelease(string text)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            int eq = line.IndexOf('=');
            if (line.StartsWith('#') || eq <= 0) continue;
            result[line[..eq]] = line[(eq + 1)..].Trim('"', '\'');
        }
        return result;
    }

    /// <summary>
    /// Parses the definition format: a flat YAML mapping of <c>key: value</c> lines (values plain scalars or flow lists
    /// <c>[a, b]</c>), <c>#</c> comments. Unknown keys are errors so typos do not pass silently.
    /// </summary>
    public static KernelDefinition Parse(string family, string text)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            int colon = line.IndexOf(':');
            if (colon <= 0) throw new FormatException($"kernels/{family}.yaml: expected 'key: value', got '{line}'");
            map[line[..colon].Trim()] = line[(colon + 1)..].Trim();
        }
        foreach (var key in map.Keys)
            if (key is not ("family" or "ids" or "package" or "initramfs" or "verified"))
                throw new FormatException($"kernels/{family}.yaml: unknown key '{key}'");
        string Get(string key) => map.TryGetValue(key, out var v) && v.Length > 0
            ? v : throw new FormatException($"kernels/{family}.yaml: missing '{key}'");
        var ids = Get("ids").Trim('[', ']').Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var tool = Get("initramfs") switch
        {
            "initramfs-tools" => InitramfsTool.InitramfsTools,
            "dracut" => InitramfsTool.Dracut,
            "mkinitfs" => InitramfsTool.Mkinitfs,
            var other => throw new FormatException($"kernels/{family}.yaml: unknown initramfs tool '{other}'"),
        };
        return new KernelDefinition(map.GetValueOrDefault("family", family), ids, Get("package"), tool,
            map.GetValueOrDefault("verified") == "true");
    }

    private static IReadOnlyList<KernelDefinition> LoadEmbedded()
    {
        var assembly = typeof(KernelDefinition).Assembly;
        var list = new List<KernelDefinition>();
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith("kernels/", StringComparison.Ordinal)).Order())
        {
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var reader = new StreamReader(stream);
            list.Add(Parse(Path.GetFileNameWithoutExtension(name), reader.ReadToEnd()));
        }
        return list;
    }
}
