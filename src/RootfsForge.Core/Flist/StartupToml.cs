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

    /// <summary>
    /// Reads the entrypoint from a <c>/.startup.toml</c> (docs/flist-format.md §8): <c>[startup.entry.args]</c> <c>name</c>,
    /// <c>args</c>, <c>dir</c> and the <c>[startup.entry.args.env]</c> table; <c>null</c> when the file names no program.
    /// </summary>
    /// <remarks>
    /// Hand-written rather than a TOML library: it reads one fixed structure (what rfs, the 0-hub and <see cref="Render"/>
    /// write: standard tables, <c>key = value</c> lines, basic and literal strings, one-line string arrays), and the
    /// libraries' object models need reflection that the Native AOT command cannot use. Anything else in the file is
    /// reported as <see cref="ImageFormatException"/> naming the line, never guessed at.
    /// </remarks>
    /// <exception cref="ImageFormatException">A line this reader does not understand.</exception>
    public static StartupEntry? Read(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string table = "";
        string? name = null, dir = null;
        IReadOnlyList<string> args = [];
        var env = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var lines = text.Split('\n');
        for (int i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0 || line[0] == '#') continue;
            ImageFormatException Bad(string why) => new($"line {i + 1}: {why}", Path);
            if (line[0] == '[')
            {
                if (!line.EndsWith(']') || line.StartsWith("[[", StringComparison.Ordinal)) throw Bad("not a table header this reader knows");
                table = string.Join('.', line[1..^1].Split('.').Select(k => k.Trim().Trim('"')));
                continue;
            }
            int eq = line.IndexOf('=');
            if (eq <= 0) throw Bad("expected KEY = VALUE");
            var key = line[..eq].Trim();
            if (key.Length >= 2 && key[0] == '"') key = ReadString(key, 0, out _, Bad);
            var value = line[(eq + 1)..].Trim();
            switch (table, key)
            {
                case ("startup.entry.args", "name"): name = ReadString(value, 0, out _, Bad); break;
                case ("startup.entry.args", "dir"): dir = ReadString(value, 0, out _, Bad); break;
                case ("startup.entry.args", "args"): args = ReadArray(value, Bad); break;
                case ("startup.entry.args.env", _): env[key] = ReadString(value, 0, out _, Bad); break;
                default: break; // other keys (startup.entry.name, …) do not decide what runs
            }
        }
        return name is null ? null : new StartupEntry(name, args, string.IsNullOrEmpty(dir) ? "/" : dir, env);
    }

    private static List<string> ReadArray(string value, Func<string, ImageFormatException> bad)
    {
        if (value.Length < 2 || value[0] != '[' || value[^1] != ']') throw bad("expected a one-line array of strings");
        var items = new List<string>();
        int i = 1;
        while (true)
        {
            while (i < value.Length - 1 && char.IsWhiteSpace(value[i])) i++;
            if (i >= value.Length - 1) break;
            items.Add(ReadString(value, i, out i, bad));
            while (i < value.Length - 1 && char.IsWhiteSpace(value[i])) i++;
            if (i < value.Length - 1 && value[i] == ',') i++;
            else if (i < value.Length - 1) throw bad("expected ',' between array items");
        }
        return items;
    }

    /// <summary>A TOML basic ("…", TOML 1.0 §String escapes) or literal ('…') string starting at <paramref name="start"/>.</summary>
    private static string ReadString(string s, int start, out int end, Func<string, ImageFormatException> bad)
    {
        if (start >= s.Length || s[start] is not ('"' or '\''))
            throw bad("expected a string");
        char quote = s[start];
        var sb = new StringBuilder();
        for (int i = start + 1; i < s.Length; i++)
        {
            char c = s[i];
            if (c == quote)
            {
                end = i + 1;
                return sb.ToString();
            }
            if (c != '\\' || quote == '\'')
            {
                sb.Append(c);
                continue;
            }
            if (++i >= s.Length) break;
            switch (s[i])
            {
                case '"': sb.Append('"'); break;
                case '\\': sb.Append('\\'); break;
                case 'n': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case 'r': sb.Append('\r'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'e': sb.Append('\u001B'); break;
                case 'u' or 'U':
                    int n = s[i] == 'u' ? 4 : 8;
                    if (i + n >= s.Length || !int.TryParse(s.AsSpan(i + 1, n), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int cp)
                        || !Rune.IsValid(cp))
                        throw bad("a malformed \\u escape");
                    sb.Append(char.ConvertFromUtf32(cp));
                    i += n;
                    break;
                default: throw bad($"an unknown escape \\{s[i]}");
            }
        }
        throw bad("a string that does not end");
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

/// <summary>The entrypoint a <c>/.startup.toml</c> names (docs/flist-format.md §8).</summary>
/// <param name="Name">The program (<c>args.name</c>): an absolute path, or a name looked up in <c>PATH</c>.</param>
/// <param name="Args">Its arguments.</param>
/// <param name="Dir">The working directory (<c>/</c> when none is given).</param>
/// <param name="Env">The environment variables.</param>
public sealed record StartupEntry(string Name, IReadOnlyList<string> Args, string Dir, IReadOnlyDictionary<string, string> Env);
