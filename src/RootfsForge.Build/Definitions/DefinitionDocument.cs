using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace RootfsForge.Definitions;

/// <summary>
/// The resolved definition as a document: what <c>build --print</c> shows and what its hash is taken over
/// (README.md, "Definitions"). The canonical form is JSON with keys sorted by ordinal order, no insignificant whitespace,
/// no null members, UTF-8; host paths are recorded relative to the definition's folder, and every file a definition
/// copies or runs is recorded with the SHA-256 of its content (a folder: of its sorted listing and contents), so editing
/// such a file changes the hash as editing the YAML does. Absolute paths are left out, so the hash is the same on every
/// machine and checkout.
/// </summary>
public static class DefinitionDocument
{
    /// <summary>The canonical JSON (UTF-8).</summary>
    public static byte[] CanonicalJson(ImageDefinition definition) =>
        Encoding.UTF8.GetBytes(ToJson(definition).ToJsonString());

    /// <summary>SHA-256 (hex) of <see cref="CanonicalJson"/>: <see cref="BuildManifest.DefinitionSha256"/>.</summary>
    public static string Sha256(ImageDefinition definition) => Convert.ToHexStringLower(SHA256.HashData(CanonicalJson(definition)));

    /// <summary>The resolved definition as a JSON tree with sorted keys.</summary>
    public static JsonObject ToJson(ImageDefinition d)
    {
        ArgumentNullException.ThrowIfNull(d);
        var root = new JsonObject
        {
            ["name"] = d.Name,
            ["kind"] = d.Kind == ImageKind.Vm ? "vm" : "container",
            ["from"] = Source(d.From),
            ["recipes"] = Array(d.Recipes.Select(r => Relative(d, r))),
            ["packages"] = new JsonObject { ["install"] = Array(d.Install), ["remove"] = Array(d.Remove) },
            ["files"] = new JsonArray(d.Files.Select(f => (JsonNode)Object(
                ("path", f.Path), ("source", f.Written), ("sha256", f.Source is null ? null : HashPath(f.Source)),
                ("content", f.Content), ("owner", $"{f.Uid}:{f.Gid}"), ("mode", f.Mode is int m ? Convert.ToString(m, 8).PadLeft(4, '0') : null))).ToArray()),
            ["run"] = new JsonArray(d.Run.Select(r => (JsonNode)Object(
                ("command", r.Command), ("script", r.Written), ("sha256", r.Script is null ? null : HashPath(r.Script)))).ToArray()),
            ["users"] = new JsonArray(d.Users.Select(u => (JsonNode)Object(("name", u.Name), ("uid", u.Uid), ("shell", u.Shell),
                ("groups", Array(u.Groups)), ("ssh_keys", Array(u.SshKeys)))).ToArray()),
            ["ssh"] = Array(d.SshKeys),
            ["services"] = new JsonArray(d.Services.Select(s => (JsonNode)Object(("name", s.Name), ("exec", s.Exec),
                ("oneshot", d.Kind == ImageKind.Container ? s.Oneshot : null), ("after", d.Kind == ImageKind.Container ? Array(s.After) : null),
                ("test", s.Test), ("unit", s.Unit))).ToArray()),
            ["cleanup"] = Array(d.Cleanup),
            ["outputs"] = new JsonArray(d.Outputs.Select(Output).ToArray()),
            ["metadata"] = Object(("description", d.Metadata.Description), ("version", d.Metadata.Version), ("maintainer", d.Metadata.Maintainer)),
        };
        if (d.Kind == ImageKind.Vm)
            root["kernel"] = d.Kernel == KernelSpec.Image ? "image" : Object(("family", d.Kernel.Family), ("package", d.Kernel.Package));
        else
        {
            if (d.Entrypoint is not null) root["entrypoint"] = Array(d.Entrypoint);
            root["env"] = new JsonObject(d.Env.Select(e => KeyValuePair.Create(e.Key, (JsonNode?)e.Value)));
            if (d.WorkingDirectory is not null) root["workdir"] = d.WorkingDirectory;
        }
        if (d.SourceDateEpoch is long epoch) root["reproducible"] = new JsonObject { ["source_date_epoch"] = epoch };
        return Sorted(root);
    }

    /// <summary>The resolved definition as YAML (keys in the canonical order), for people.</summary>
    public static string ToYaml(ImageDefinition definition)
    {
        var stream = new YamlStream(new YamlDocument(ToYamlNode(ToJson(definition))));
        var writer = new StringWriter();
        stream.Save(writer, assignAnchors: false);
        var text = writer.ToString();
        // YamlStream ends a document with "...": drop it, one document per file.
        return text.EndsWith("...\n", StringComparison.Ordinal) ? text[..^4] : text;
    }

    private static YamlNode ToYamlNode(JsonNode? node) => node switch
    {
        JsonObject o => new YamlMappingNode(o.Select(p => KeyValuePair.Create<YamlNode, YamlNode>(Scalar(p.Key), ToYamlNode(p.Value)))),
        JsonArray a => new YamlSequenceNode(a.Select(ToYamlNode)),
        JsonValue v when v.TryGetValue<string>(out var s) => Scalar(s),
        JsonValue v => new YamlScalarNode(v.ToJsonString()),
        _ => new YamlScalarNode("null"),
    };

    /// <summary>
    /// A string scalar that reads back as a string with YAML 1.1 and 1.2 readers alike: double-quoted when a plain scalar
    /// could be read as a number, bool, null, date or sexagesimal (anything starting with a digit, sign or dot, and the
    /// 1.1 words yes/no/on/off/y/n); literal when multi-line. The emitter quotes what plain YAML cannot hold at all.
    /// </summary>
    private static YamlScalarNode Scalar(string s)
    {
        if (s.Contains('\n')) return new YamlScalarNode(s) { Style = ScalarStyle.Literal };
        bool ambiguous = s.Length == 0 || s[0] is (>= '0' and <= '9') or '+' or '-' or '.' or '~'
                         || s.ToLowerInvariant() is "null" or "true" or "false" or "yes" or "no" or "on" or "off" or "y" or "n";
        return new YamlScalarNode(s) { Style = ambiguous ? ScalarStyle.DoubleQuoted : ScalarStyle.Any };
    }

    private static JsonNode Source(SourceSpec source) => source switch
    {
        UrlSource u => Object(("url", u.Url.ToString()), ("sha256", u.Sha256), ("sha256sums", u.Sha256Sums?.ToString())),
        PathSource p => Object(("path", p.Written)),
        OciSource o => Object(("image", o.Image)),
        BootstrapSource b => new JsonObject
        {
            [b.Tool] = Object(("suite", b.Suite), ("mirror", b.Mirror), ("variant", b.Variant), ("include", Array(b.Include)),
                ("components", Array(b.Components))),
        },
        _ => throw new ArgumentException($"unknown source {source.GetType().Name}", nameof(source)),
    };

    private static JsonNode Output(OutputDefinition o) => o.Format switch
    {
        OutputFormat.Tar => "tar",
        OutputFormat.TarGz => "tar.gz",
        OutputFormat.TarZst => "tar.zst",
        OutputFormat.Flist => new JsonObject
        {
            ["fl"] = new JsonObject
            {
                ["stores"] = new JsonArray(o.Stores.Select(s => (JsonNode)Object(("url", s.Url), ("credentials_env", s.CredentialsEnv),
                    ("credentials_file", s.CredentialsFile is null ? null : "(a file)"))).ToArray()),
            },
        },
        _ => new JsonObject { ["hub"] = Object(("name", o.HubName), ("url", o.HubUrl?.ToString())) },
    };

    private static string Relative(ImageDefinition d, string path) =>
        Path.GetRelativePath(Path.GetDirectoryName(d.File)!, path).Replace('\\', '/');

    private static JsonArray Array(IEnumerable<string> items) => new(items.Select(i => (JsonNode)i).ToArray());

    private static JsonObject Object(params (string Key, object? Value)[] members)
    {
        var o = new JsonObject();
        foreach (var (k, v) in members)
        {
            switch (v)
            {
                case null: break;
                case JsonNode n: o[k] = n; break;
                case string s: o[k] = s; break;
                case bool b: o[k] = b; break;
                case uint u: o[k] = u; break;
                default: throw new ArgumentException($"unexpected member type {v.GetType().Name}", nameof(members));
            }
        }
        return o;
    }

    /// <summary>A copy of the tree with every object's keys in ordinal order.</summary>
    private static JsonObject Sorted(JsonObject o) =>
        new(o.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => KeyValuePair.Create(p.Key, SortedNode(p.Value))));

    private static JsonNode? SortedNode(JsonNode? node) => node switch
    {
        JsonObject o => Sorted(o),
        JsonArray a => new JsonArray(a.Select(SortedNode).ToArray()),
        JsonValue v => v.DeepClone(),
        _ => null,
    };

    /// <summary>
    /// SHA-256 (hex) of a host file's content, or of a folder: every entry below it in ordinal order as
    /// <c>type path mode [size sha256 | target]</c> lines, so renaming, adding or changing any file changes it.
    /// </summary>
    internal static string HashPath(string path)
    {
        if (File.Exists(path)) return BuildManifest.Sha256Of(path);
        var lines = new StringBuilder();
        void Walk(string dir, string rel)
        {
            foreach (var e in new DirectoryInfo(dir).EnumerateFileSystemInfos().OrderBy(e => e.Name, StringComparer.Ordinal))
            {
                var p = rel.Length == 0 ? e.Name : rel + "/" + e.Name;
                var mode = Convert.ToString((int)e.UnixFileMode, 8);
                if (e.LinkTarget is { } target) lines.Append($"l {p} {mode} {target}\n");
                else if (e is DirectoryInfo) { lines.Append($"d {p} {mode}\n"); Walk(e.FullName, p); }
                else if (e is FileInfo f) lines.Append($"f {p} {mode} {f.Length} {BuildManifest.Sha256Of(f.FullName)}\n");
            }
        }
        Walk(path, "");
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(lines.ToString())));
    }
}
