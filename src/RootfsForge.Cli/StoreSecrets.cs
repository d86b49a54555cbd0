using System.CommandLine;
using RootfsForge.Stores;

namespace RootfsForge.Cli;

/// <summary>
/// Store credentials kept off the command line (where every user sees them in <c>ps</c>): a <c>--store-secrets</c>
/// file, else <c>RFS_ZDB_PASSWORD</c> for <c>zdb://</c> and <c>AWS_ACCESS_KEY_ID</c>/<c>AWS_SECRET_ACCESS_KEY</c> for
/// <c>s3://</c>/<c>s3s://</c> stores named without credentials. They are put into the store URL in memory only; the
/// stores report their URLs redacted (<see cref="StoreUrl.Redact"/>), so no message carries them.
/// </summary>
internal static class StoreSecrets
{
    public const string ZdbPasswordVariable = "RFS_ZDB_PASSWORD";
    public const string AccessKeyVariable = "AWS_ACCESS_KEY_ID";
    public const string SecretKeyVariable = "AWS_SECRET_ACCESS_KEY";

    private static string? s_file;
    private static Dictionary<string, string>? s_loaded;

    /// <summary>Gives every command that has <c>--store</c> the <c>--store-secrets</c> option too (at start-up).</summary>
    public static void AddToStoreCommands(Command command)
    {
        if (command.Options.Any(o => o.Name == "--store")) command.Options.Add(Option());
        foreach (var sub in command.Subcommands) AddToStoreCommands(sub);
    }

    /// <summary>Remembers the parsed <c>--store-secrets</c> file; it is read when the first store is opened.</summary>
    public static void Configure(ParseResult parse) =>
        s_file = parse.CommandResult.Command.Options.FirstOrDefault(o => o.Name == "--store-secrets") is Option<string?> o ? parse.GetValue(o) : null;

    /// <summary><see cref="Apply(string, IReadOnlyDictionary{string, string})"/> with the configured file.</summary>
    public static string Apply(string spec) => Apply(spec, s_loaded ??= Load(s_file));

    public static Option<string?> Option() => new("--store-secrets")
    {
        Description = "A file of store credentials, one 'STORE-URL USER:PASSWORD' line per store (zdb: [USER:]PASSWORD, s3: KEY:SECRET; " +
                      "# comments). Else $RFS_ZDB_PASSWORD and $AWS_ACCESS_KEY_ID/$AWS_SECRET_ACCESS_KEY are used for stores named without credentials.",
        HelpName = "FILE",
    };

    /// <summary>
    /// Reads a secrets file: each non-empty line that does not start with <c>#</c> is a store URL as written on the
    /// command line (without credentials and without a route range) and, after white space, the credentials, taken
    /// literally. A malformed line is a usage error naming its number, never its content.
    /// </summary>
    public static Dictionary<string, string> Load(string? path)
    {
        var secrets = new Dictionary<string, string>(StringComparer.Ordinal);
        if (path is null) return secrets;
        if (!File.Exists(path)) throw new UsageException($"--store-secrets {path}: no such file");
        if (OperatingSystem.IsLinux() && (File.GetUnixFileMode(path) & (UnixFileMode.GroupRead | UnixFileMode.OtherRead)) != 0)
            Console.Error.WriteLine($"rootfsforge: warning: --store-secrets {path} is readable by other users (chmod 600 it)");
        int number = 0;
        foreach (var raw in File.ReadLines(path))
        {
            number++;
            string line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            int space = line.IndexOfAny([' ', '\t']);
            if (space <= 0) throw new UsageException($"--store-secrets {path}:{number}: expected 'STORE-URL CREDENTIALS'");
            secrets[Key(line[..space])] = line[(space + 1)..].Trim();
        }
        return secrets;
    }

    /// <summary>
    /// The store spec (<c>[xx-yy=]URL</c>) with credentials added from <paramref name="file"/> or the environment when its
    /// URL has none; a URL that carries a password itself is used as it is, with a warning.
    /// </summary>
    public static string Apply(string spec, IReadOnlyDictionary<string, string> file)
    {
        int scheme = spec.IndexOf("://", StringComparison.Ordinal);
        if (scheme < 0) return spec;
        int eq = spec.IndexOf('=');
        string range = eq > 0 && eq < scheme ? spec[..(eq + 1)] : "";
        string url = spec[range.Length..];
        string kind = url[..(scheme - range.Length)].ToLowerInvariant();
        if (kind is not ("zdb" or "s3" or "s3s")) return spec;
        int authorityStart = scheme - range.Length + 3;
        int authorityEnd = url.IndexOfAny(['/', '?', '#'], authorityStart);
        string authority = authorityEnd < 0 ? url[authorityStart..] : url[authorityStart..authorityEnd];
        int at = authority.LastIndexOf('@');
        if (at >= 0)
        {
            if (authority[..at].Contains(':'))
                Console.Error.WriteLine($"rootfsforge: warning: the store URL {StoreUrl.Redact(url)} carries a password on the command line, " +
                                        $"where other users see it (ps); use --store-secrets or {(kind == "zdb" ? ZdbPasswordVariable : $"{AccessKeyVariable}/{SecretKeyVariable}")}");
            return spec;
        }
        string? credentials = file.TryGetValue(Key(url), out var fromFile) ? fromFile : FromEnvironment(kind);
        if (string.IsNullOrEmpty(credentials)) return spec;
        int colon = credentials.IndexOf(':');
        string user = colon < 0 ? "" : credentials[..colon];
        string password = colon < 0 ? credentials : credentials[(colon + 1)..];
        if (kind != "zdb" && (user.Length == 0 || password.Length == 0))
            throw new UsageException($"--store-secrets: the credentials for {StoreUrl.Redact(url)} must be KEY:SECRET");
        string userinfo = Uri.EscapeDataString(user) + ":" + Uri.EscapeDataString(password) + "@";
        return range + url[..authorityStart] + userinfo + url[authorityStart..];
    }

    private static string? FromEnvironment(string kind)
    {
        if (kind == "zdb") return Environment.GetEnvironmentVariable(ZdbPasswordVariable);
        string? key = Environment.GetEnvironmentVariable(AccessKeyVariable), secret = Environment.GetEnvironmentVariable(SecretKeyVariable);
        return string.IsNullOrEmpty(key) || string.IsNullOrEmpty(secret) ? null : key + ":" + secret;
    }

    /// <summary>A URL as the file and the command line are matched: without a trailing slash.</summary>
    private static string Key(string url) => url.TrimEnd('/');
}
