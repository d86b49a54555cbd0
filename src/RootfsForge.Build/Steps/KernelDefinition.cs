using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

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
/// One distro family's kernel facts, from a <c>kernels/&lt;family&gt;.yaml</c> file (those of this repository are embedded
/// in the library; more can be loaded from a folder with <see cref="LoadWithOverrides"/>): which os-release IDs it
/// covers, which kernel package to install when the image has none, which initramfs tool it uses, and whether a
/// virtio-fs boot was verified (docs/zos-vm.md §4).
/// </summary>
/// <param name="Family">The <c>family</c> key, or the file name without extension.</param>
/// <param name="Ids">os-release ID / ID_LIKE values it matches.</param>
/// <param name="Package">The virtual/cloud kernel package.</param>
/// <param name="Initramfs">The initramfs generator.</param>
/// <param name="Verified">True when a virtio-fs root boot was seen to work.</param>
public sealed record KernelDefinition(string Family, IReadOnlyList<string> Ids, string Package, InitramfsTool Initramfs, bool Verified)
{
    private const int MaxFileSize = 1 << 20;
    private static readonly string[] Keys = ["family", "ids", "package", "initramfs", "verified"];

    /// <summary>The definitions shipped with the library (<c>kernels/*.yaml</c> of the repository), ordered by family.</summary>
    public static IReadOnlyList<KernelDefinition> Embedded { get; } = LoadEmbedded();

    /// <summary>
    /// The definitions in <paramref name="directory"/> (every <c>*.yaml</c> file, by name), followed by the embedded
    /// ones whose family none of them defines: a file there overrides the embedded definition of its family, and is
    /// matched against a tree before any embedded one.
    /// </summary>
    /// <exception cref="DefinitionFormatException">A file is not a valid definition, or two files define one family.</exception>
    public static IReadOnlyList<KernelDefinition> LoadWithOverrides(string directory)
    {
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"kernel definitions folder {directory} does not exist");
        var own = new List<KernelDefinition>();
        var files = new Dictionary<string, string>(StringComparer.Ordinal); // family -> file
        foreach (var file in Directory.EnumerateFiles(directory, "*.yaml").Order(StringComparer.Ordinal))
        {
            if (new FileInfo(file).Length > MaxFileSize) throw new DefinitionFormatException(file, 1, 1, $"larger than {MaxFileSize} bytes");
            var definition = Parse(File.ReadAllText(file), file);
            if (!files.TryAdd(definition.Family, file))
                throw new DefinitionFormatException(file, 1, 1, $"family '{definition.Family}' is also defined by {files[definition.Family]}");
            own.Add(definition);
        }
        return [.. own, .. Embedded.Where(e => !files.ContainsKey(e.Family))];
    }

    /// <summary>
    /// Parses one definition: a YAML mapping with the keys <c>family</c> (string, optional: the file name),
    /// <c>ids</c> (a list of strings), <c>package</c> (string), <c>initramfs</c> (<c>initramfs-tools</c>,
    /// <c>dracut</c> or <c>mkinitfs</c>) and <c>verified</c> (<c>true</c>/<c>false</c>, optional: false).
    /// </summary>
    /// <param name="text">The file's content.</param>
    /// <param name="file">The file's name or path, for the family default and for error messages.</param>
    /// <exception cref="DefinitionFormatException">Invalid YAML, an unknown key, a wrong type, a missing key.</exception>
    public static KernelDefinition Parse(string text, string file)
    {
        // The one YAML loading of the build layer (also the image definitions'): syntax errors, repeated keys and
        // YamlDotNet's InvalidOperationException on unclosed flow collections all become file:line:column errors.
        var map = Definitions.YamlScope.LoadMapping(text, file, "a mapping of keys (family, ids, package, initramfs, verified)");

        string? family = null, package = null;
        IReadOnlyList<string>? ids = null;
        InitramfsTool? tool = null;
        bool verified = false;
        foreach (var (keyNode, value) in map.Children)
        {
            var key = (keyNode as YamlScalarNode)?.Value;
            switch (key)
            {
                case "family": family = String(file, key, value); break;
                case "package": package = String(file, key, value); break;
                case "ids": ids = StringList(file, key, value); break;
                case "verified": verified = Boolean(file, key, value); break;
                case "initramfs":
                    tool = String(file, key, value) switch
                    {
                        "initramfs-tools" => InitramfsTool.InitramfsTools,
                        "dracut" => InitramfsTool.Dracut,
                        "mkinitfs" => InitramfsTool.Mkinitfs,
                        var other => throw Error(file, value, $"'initramfs' must be initramfs-tools, dracut or mkinitfs, not '{other}'"),
                    };
                    break;
                default:
                    throw Error(file, keyNode, $"unknown key '{key ?? keyNode.ToString()}' (known: {string.Join(", ", Keys)})");
            }
        }
        return new KernelDefinition(
            family ?? Path.GetFileNameWithoutExtension(file),
            ids ?? throw Error(file, map, "missing 'ids'"),
            package ?? throw Error(file, map, "missing 'package'"),
            tool ?? throw Error(file, map, "missing 'initramfs'"),
            verified);
    }

    /// <summary>
    /// The first of <paramref name="definitions"/> that covers an os-release(5) text: its ID first, then each ID_LIKE
    /// value in order; null when none does.
    /// </summary>
    internal static KernelDefinition? ForOsRelease(string osRelease, IReadOnlyList<KernelDefinition> definitions)
    {
        var values = OsRelease(osRelease);
        var ids = new List<string>();
        if (values.TryGetValue("ID", out var id)) ids.Add(id);
        if (values.TryGetValue("ID_LIKE", out var like)) ids.AddRange(like.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        foreach (var i in ids)
            if (definitions.FirstOrDefault(d => d.Ids.Contains(i)) is { } definition) return definition;
        return null;
    }

    /// <summary>Parses os-release(5) KEY=value lines (values optionally quoted).</summary>
    internal static Dictionary<string, string> OsRelease(string text)
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

    private static string String(string file, string key, YamlNode node) =>
        node is YamlScalarNode { Value: { Length: > 0 } value } && !IsPlainNull(node)
            ? value
            : throw Error(file, node, $"'{key}' must be a non-empty string");

    private static IReadOnlyList<string> StringList(string file, string key, YamlNode node)
    {
        if (node is not YamlSequenceNode { Children.Count: > 0 } list)
            throw Error(file, node, $"'{key}' must be a non-empty list of strings, like [debian]");
        return list.Children.Select(item => String(file, key + " item", item)).ToList();
    }

    /// <summary>A YAML 1.2 core-schema boolean: a plain <c>true</c> or <c>false</c> (a quoted one is a string).</summary>
    private static bool Boolean(string file, string key, YamlNode node) => node switch
    {
        YamlScalarNode { Style: ScalarStyle.Plain, Value: "true" or "True" or "TRUE" } => true,
        YamlScalarNode { Style: ScalarStyle.Plain, Value: "false" or "False" or "FALSE" } => false,
        _ => throw Error(file, node, $"'{key}' must be true or false"),
    };

    private static bool IsPlainNull(YamlNode node) =>
        node is YamlScalarNode { Style: ScalarStyle.Plain, Value: "" or "~" or "null" or "Null" or "NULL" };

    private static DefinitionFormatException Error(string file, YamlNode node, string reason) =>
        new(file, node.Start.Line, node.Start.Column, reason);

    private static IReadOnlyList<KernelDefinition> LoadEmbedded()
    {
        var assembly = typeof(KernelDefinition).Assembly;
        var list = new List<KernelDefinition>();
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith("kernels/", StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        {
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var reader = new StreamReader(stream);
            list.Add(Parse(reader.ReadToEnd(), name));
        }
        return list;
    }
}
