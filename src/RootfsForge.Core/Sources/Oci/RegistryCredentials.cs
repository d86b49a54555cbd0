using System.Text;
using System.Text.Json;

namespace RootfsForge.Sources.Oci;

/// <summary>A user name and password for one registry. <see cref="ToString"/> never shows the password.</summary>
internal sealed class RegistryCredential(string username, string password, string source)
{
    public string Username { get; } = username;

    public string Password { get; } = password;

    /// <summary>The file it came from (for messages).</summary>
    public string Source { get; } = source;

    /// <summary>The value of an HTTP Basic <c>Authorization</c> header.</summary>
    public string BasicParameter => Convert.ToBase64String(Encoding.UTF8.GetBytes(Username + ":" + Password));

    public override string ToString() => $"credentials of '{Username}' from {Source}";
}

/// <summary>
/// Finds registry credentials in the standard files, in this order: an explicit file, <c>$REGISTRY_AUTH_FILE</c>,
/// <c>$XDG_RUNTIME_DIR/containers/auth.json</c>, <c>$DOCKER_CONFIG/config.json</c> (else <c>~/.docker/config.json</c>).
/// The first file with an entry for the registry wins.
/// </summary>
/// <remarks>
/// Both formats hold <c>{"auths": {KEY: {"auth": base64("user:password")} | {"username":…, "password":…}}}</c>. A key
/// with a scheme (<c>https://index.docker.io/v1/</c>) names only its host, as containers-auth.json(5) reads Docker's
/// legacy keys; a key without one is <c>host[/namespace…]</c>, and the longest one matching the repository wins.
/// Credential helpers (<c>credsStore</c>, <c>credHelpers</c>) and identity tokens are not used.
/// </remarks>
internal sealed class CredentialFiles
{
    private readonly string? _explicitFile;

    internal CredentialFiles(string? explicitFile, Func<string, string?> environment, string home)
    {
        _explicitFile = explicitFile;
        var files = new List<string>();
        if (explicitFile is not null) files.Add(explicitFile);
        if (environment("REGISTRY_AUTH_FILE") is { Length: > 0 } authFile) files.Add(authFile);
        if (environment("XDG_RUNTIME_DIR") is { Length: > 0 } runtime) files.Add(Path.Combine(runtime, "containers", "auth.json"));
        files.Add(environment("DOCKER_CONFIG") is { Length: > 0 } dockerConfig
            ? Path.Combine(dockerConfig, "config.json")
            : Path.Combine(home, ".docker", "config.json"));
        Files = files;
    }

    /// <summary>The files looked at, in order.</summary>
    public IReadOnlyList<string> Files { get; }

    public static CredentialFiles FromEnvironment(string? explicitFile) =>
        new(explicitFile, Environment.GetEnvironmentVariable, Environment.GetFolderPath(Environment.SpecialFolder.UserProfile));

    /// <summary>The credentials for <paramref name="registry"/> (as in the reference) and <paramref name="repository"/>, or null.</summary>
    public RegistryCredential? Find(string registry, string repository)
    {
        if (_explicitFile is not null && !File.Exists(_explicitFile))
            throw new FileNotFoundException($"credentials file {_explicitFile} does not exist", _explicitFile);
        foreach (var file in Files)
        {
            if (!File.Exists(file)) continue;
            if (FindIn(file, registry, repository) is { } c) return c;
        }
        return null;
    }

    private static RegistryCredential? FindIn(string file, string registry, string repository)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(file));
        }
        catch (JsonException e)
        {
            // The parser's message may quote a character of the file: say only where it went wrong.
            throw new InvalidDataException($"credentials file {file} is not valid JSON (line {e.LineNumber + 1})");
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object
                || !doc.RootElement.TryGetProperty("auths", out var auths) || auths.ValueKind != JsonValueKind.Object)
                return null;
            string target = NormalHost(registry) + "/" + repository;
            JsonElement? best = null;
            int bestLength = -1;
            foreach (var entry in auths.EnumerateObject())
            {
                string key = NormalKey(entry.Name);
                bool matches = target == key || target.StartsWith(key + "/", StringComparison.Ordinal);
                if (matches && key.Length > bestLength)
                {
                    best = entry.Value;
                    bestLength = key.Length;
                }
            }
            return best is JsonElement b ? Read(b, file) : null;
        }
    }

    private static RegistryCredential? Read(JsonElement entry, string file)
    {
        if (entry.ValueKind != JsonValueKind.Object) return null;
        if (entry.TryGetProperty("auth", out var auth) && auth.ValueKind == JsonValueKind.String && auth.GetString() is { Length: > 0 } b64)
        {
            string decoded;
            try
            {
                decoded = Encoding.UTF8.GetString(Convert.FromBase64String(b64));
            }
            catch (FormatException)
            {
                throw new InvalidDataException($"credentials file {file}: an 'auth' value is not base64");
            }
            int colon = decoded.IndexOf(':');
            if (colon < 0) throw new InvalidDataException($"credentials file {file}: an 'auth' value is not base64 of user:password");
            return new RegistryCredential(decoded[..colon], decoded[(colon + 1)..], file);
        }
        if (entry.TryGetProperty("username", out var u) && u.ValueKind == JsonValueKind.String
            && entry.TryGetProperty("password", out var p) && p.ValueKind == JsonValueKind.String)
            return new RegistryCredential(u.GetString()!, p.GetString()!, file);
        return null;
    }

    /// <summary>A key with a scheme is a legacy Docker URL: only its host counts.</summary>
    private static string NormalKey(string key)
    {
        foreach (var scheme in (ReadOnlySpan<string>)["http://", "https://"])
        {
            if (key.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
            {
                key = key[scheme.Length..];
                int slash = key.IndexOf('/');
                return NormalHost(slash < 0 ? key : key[..slash]);
            }
        }
        key = key.TrimEnd('/');
        int s = key.IndexOf('/');
        return s < 0 ? NormalHost(key) : NormalHost(key[..s]) + key[s..];
    }

    private static string NormalHost(string host) =>
        host.ToLowerInvariant() is "index.docker.io" or "registry-1.docker.io" or ImageReference.DockerHub
            ? ImageReference.DockerHub
            : host.ToLowerInvariant();
}
