using System.Globalization;
using System.Text;

namespace RootfsForge.Flist;

/// <summary>
/// The <c>/.startup.toml</c> of a container flist (docs/flist-format.md §8): the entrypoint ZOS falls back to when a
/// deployment names none. Written in the layout rfs and the 0-hub write (a serde map turned into TOML: keys sorted by
/// their bytes, tables <c>[startup.entry]</c>, <c>[startup.entry.args]</c>, <c>[startup.entry.args.env]</c>, plain
/// values before sub-tables, a blank line between tables), so the same image gives the same bytes as rfs where rfs is
/// right.
/// </summary>
/// <remarks>
/// Where rfs's converter deviates from how a container runtime starts the image, this follows the runtime (OCI
/// image-spec config: Entrypoint then Cmd): with a multi-word ENTRYPOINT rfs drops CMD, and it cuts ENV values at their
/// second <c>=</c>; here every word is kept and values are whole.
/// </remarks>
internal static class StartupToml
{
    /// <summary>The path of the file in a flist.</summary>
    public const string Path = ".startup.toml";

    /// <summary>
    /// Renders the file for an image whose config has <paramref name="entrypoint"/>, <paramref name="cmd"/>,
    /// <paramref name="env"/> (<c>NAME=VALUE</c>) and <paramref name="workingDir"/>.
    /// </summary>
    public static byte[] Render(IReadOnlyList<string> entrypoint, IReadOnlyList<string> cmd, IReadOnlyList<string> env, string? workingDir)
    {
        var words = entrypoint.Concat(cmd).ToList();
        string program = words.Count > 0 ? words[0] : "/bin/sh";
        var args = words.Skip(1).ToList();
        var variables = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var e in env)
        {
            int eq = e.IndexOf('=');
            if (eq <= 0) continue; // "NAME" without a value, or "=x": nothing a process environment can carry
            variables[e[..eq]] = e[(eq + 1)..]; // a later duplicate wins, as in a runtime
        }
        var sb = new StringBuilder();
        sb.Append("[startup.entry]\n");
        sb.Append("name = ").Append(Quote("core.system")).Append('\n');
        sb.Append("\n[startup.entry.args]\n");
        sb.Append("args = [").Append(string.Join(", ", args.Select(Quote))).Append("]\n");
        sb.Append("dir = ").Append(Quote(string.IsNullOrEmpty(workingDir) ? "/" : workingDir)).Append('\n');
        sb.Append("name = ").Append(Quote(program)).Append('\n');
        sb.Append("\n[startup.entry.args.env]\n");
        foreach (var (k, v) in variables) sb.Append(Key(k)).Append(" = ").Append(Quote(v)).Append('\n');
        return new UTF8Encoding(false).GetBytes(sb.ToString());
    }

    /// <summary>A TOML key: bare when it is only A-Z a-z 0-9 _ -, else a basic string.</summary>
    private static string Key(string key) =>
        key.Length > 0 && key.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-') ? key : Quote(key);

    /// <summary>A TOML basic string (TOML 1.0 §String): quote, backslash and control characters escaped.</summary>
    private static string Quote(string value)
    {
        var sb = new StringBuilder(value.Length + 2).Append('"');
        foreach (char c in value)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\t': sb.Append("\\t"); break;
                case '\r': sb.Append("\\r"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (char.IsControl(c)) sb.Append("\\u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
                    else sb.Append(c);
                    break;
            }
        }
        return sb.Append('"').ToString();
    }
}
