using RootfsForge.Sources.Oci;
using RootfsForge.Steps;
using YamlDotNet.RepresentationModel;

namespace RootfsForge.Definitions;

/// <summary><c>from:</c> — exactly one source (README.md, "Definitions").</summary>
internal static class SourceParser
{
    public const string DefaultDebianMirror = "http://deb.debian.org/debian";

    public static SourceSpec Parse(YamlScope scope, YamlNode node)
    {
        var map = scope.Map(node, "from");
        var keys = scope.Keys(map, "from", ["url", "sha256", "sha256sums", "path", "image", "mmdebstrap", "debootstrap"]).ToList();
        var kinds = keys.Where(k => k.Key is "url" or "path" or "image" or "mmdebstrap" or "debootstrap").ToList();
        if (kinds.Count != 1)
            throw scope.Error(kinds.Count > 1 ? kinds[1].KeyNode : map,
                "'from' takes exactly one of url (+ sha256 or sha256sums), path, image, mmdebstrap, debootstrap");
        var (kind, _, value) = kinds[0];
        var checksums = keys.Where(k => k.Key is "sha256" or "sha256sums").ToList();
        if (kind != "url" && checksums.Count > 0) throw scope.Error(checksums[0].KeyNode, $"'{checksums[0].Key}' goes with 'url' only");
        switch (kind)
        {
            case "url":
                if (checksums.Count != 1)
                    throw scope.Error(checksums.Count > 1 ? checksums[1].KeyNode : map,
                        "a 'url' source needs exactly one of 'sha256' (the image's digest) or 'sha256sums' (the URL of a checksum file)");
                var url = HttpUrl(scope, value, "from.url");
                if (checksums[0].Key == "sha256")
                {
                    var hex = scope.String(checksums[0].Value, "from.sha256").ToLowerInvariant();
                    if (hex.StartsWith("sha256:", StringComparison.Ordinal)) hex = hex["sha256:".Length..];
                    if (hex.Length != 64 || !hex.All(char.IsAsciiHexDigit))
                        throw scope.Error(checksums[0].Value, "'from.sha256' must be 64 hex digits");
                    return new UrlSource(url, hex, null);
                }
                return new UrlSource(url, null, HttpUrl(scope, checksums[0].Value, "from.sha256sums"));
            case "path":
                var written = scope.String(value, "from.path");
                return new PathSource(Path.GetFullPath(Path.Combine(scope.Directory, written)), written);
            case "image":
                var text = scope.String(value, "from.image");
                ImageReference reference;
                try
                {
                    reference = ImageReference.Parse(text);
                }
                catch (FormatException e)
                {
                    throw scope.Error(value, e.Message);
                }
                if (reference.Transport == ImageTransport.Registry && reference.Digest is null)
                    throw scope.Error(value, $"'from.image' must be pinned by digest (docker://REPO@sha256:…) so a build can be repeated, not '{text}'");
                return new OciSource(text);
            default:
                return Bootstrap(scope, kind, value);
        }
    }

    private static BootstrapSource Bootstrap(YamlScope scope, string tool, YamlNode node)
    {
        string? suite = null, variant = null;
        string mirror = DefaultDebianMirror;
        IReadOnlyList<string> include = [], components = ["main"];
        foreach (var (key, _, value) in scope.Keys(scope.Map(node, "from." + tool), "from." + tool, ["suite", "mirror", "variant", "include", "components"]))
        {
            switch (key)
            {
                case "suite": suite = Word(scope, value, $"from.{tool}.suite"); break;
                case "mirror": mirror = HttpUrl(scope, value, $"from.{tool}.mirror").ToString().TrimEnd('/'); break;
                case "variant": variant = Word(scope, value, $"from.{tool}.variant"); break;
                case "include": include = scope.List(value, "include").Children.Select(i => Word(scope, i, $"from.{tool}.include item")).ToList(); break;
                default: components = scope.List(value, "components").Children.Select(i => Word(scope, i, $"from.{tool}.components item")).ToList(); break;
            }
        }
        return new BootstrapSource(tool, suite ?? throw scope.Error(node, $"'from.{tool}' needs 'suite'"), mirror, variant, include, components);
    }

    /// <summary>A value passed to a tool as one argument: no whitespace, no leading '-', no ','.</summary>
    internal static string Word(YamlScope scope, YamlNode node, string what)
    {
        var s = scope.String(node, what);
        if (s.StartsWith('-') || s.Any(c => char.IsWhiteSpace(c) || c == ',' || char.IsControl(c)))
            throw scope.Error(node, $"'{what}' must be one word (no spaces or commas, not starting with '-'), not '{s}'");
        return s;
    }

    internal static Uri HttpUrl(YamlScope scope, YamlNode node, string what)
    {
        var s = scope.String(node, what);
        if (!Uri.TryCreate(s, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw scope.Error(node, $"'{what}' must be an http:// or https:// URL, not '{s}'");
        if (uri.UserInfo.Length > 0) throw scope.Error(node, $"'{what}' must not hold credentials");
        return uri;
    }
}

/// <summary><c>outputs:</c> (README.md, "Definitions").</summary>
internal static class OutputParser
{
    public static IReadOnlyList<OutputDefinition> Parse(YamlScope scope, YamlNode node)
    {
        var list = new List<OutputDefinition>();
        foreach (var item in scope.List(node, "outputs").Children)
        {
            OutputDefinition output;
            if (item is YamlScalarNode)
            {
                output = scope.String(item, "outputs item") switch
                {
                    "tar" => new OutputDefinition(OutputFormat.Tar, [], null, null, null),
                    "tar.gz" => new OutputDefinition(OutputFormat.TarGz, [], null, null, null),
                    "tar.zst" => new OutputDefinition(OutputFormat.TarZst, [], null, null, null),
                    "fl" or "hub" => throw scope.Error(item, "'fl' needs stores ({fl: {stores: [URL]}}) and 'hub' a url ({hub: {url: URL}})"),
                    var other => throw scope.Error(item, $"unknown output '{other}' (tar, tar.gz, tar.zst, fl: {{stores: […]}}, hub: {{url: …}})"),
                };
            }
            else
            {
                var map = scope.Map(item, "outputs item");
                var keys = scope.Keys(map, "an output", ["fl", "hub"]).ToList();
                if (keys.Count != 1) throw scope.Error(map, "an output mapping has exactly one key: fl or hub");
                output = keys[0].Key == "fl" ? Flist(scope, keys[0].Value) : Hub(scope, keys[0].Value);
            }
            if (list.Any(o => o.Format == output.Format))
                throw scope.Error(item, $"a second {output.Format} output (each format is written once: NAME{output.Suffix})");
            list.Add(output);
        }
        return list;
    }

    private static OutputDefinition Flist(YamlScope scope, YamlNode node)
    {
        var stores = new List<StoreSpec>();
        foreach (var (_, _, value) in scope.Keys(scope.Map(node, "fl"), "fl", ["stores"]))
        {
            foreach (var s in scope.List(value, "fl.stores").Children)
            {
                if (s is YamlScalarNode) stores.Add(new StoreSpec(StoreUrl(scope, s), null, null));
                else
                {
                    string? url = null, env = null, file = null;
                    foreach (var (key, _, v) in scope.Keys(scope.Map(s, "store"), "a store", ["url", "credentials_env", "credentials_file"]))
                    {
                        switch (key)
                        {
                            case "url": url = StoreUrl(scope, v); break;
                            case "credentials_env": env = scope.String(v, "credentials_env"); break;
                            default: file = Path.GetFullPath(Path.Combine(scope.Directory, scope.String(v, "credentials_file"))); break;
                        }
                    }
                    if (env is not null && file is not null) throw scope.Error(s, "a store takes credentials_env or credentials_file, not both");
                    stores.Add(new StoreSpec(url ?? throw scope.Error(s, "a store needs 'url'"), env, file));
                }
            }
        }
        if (stores.Count == 0) throw scope.Error(node, "'fl' needs at least one store under 'stores'");
        return new OutputDefinition(OutputFormat.Flist, stores, null, null, null);
    }

    /// <summary>A store URL as <c>--store</c> takes it, refused when it holds a secret (those come from the environment or a file).</summary>
    private static string StoreUrl(YamlScope scope, YamlNode node)
    {
        var url = scope.String(node, "store url");
        int scheme = url.IndexOf("://", StringComparison.Ordinal);
        if (scheme < 0) throw scope.Error(node, $"'{url}' is not a store URL (dir://, zdb://, s3://, s3s://)");
        var rest = url[(scheme + 3)..];
        int at = rest.IndexOf('@');
        int slash = rest.IndexOf('/');
        if (at >= 0 && (slash < 0 || at < slash) && rest[..at].Contains(':'))
            throw scope.Error(node, "a store URL in a definition must not hold a password or secret: give it with credentials_env or credentials_file");
        return url;
    }

    private static OutputDefinition Hub(YamlScope scope, YamlNode node)
    {
        string? name = null, tokenFile = null;
        Uri? url = null;
        foreach (var (key, _, value) in scope.Keys(scope.Map(node, "hub"), "hub", ["name", "url", "token_file"]))
        {
            switch (key)
            {
                case "name":
                    name = scope.String(value, "hub.name");
                    if (!DefinitionLoader.IsPlainName(name)) throw scope.Error(value, $"'hub.name' must be a plain flist name, not '{name}'");
                    break;
                case "url": url = SourceParser.HttpUrl(scope, value, "hub.url"); break;
                default: tokenFile = Path.GetFullPath(Path.Combine(scope.Directory, scope.String(value, "hub.token_file"))); break;
            }
        }
        return new OutputDefinition(OutputFormat.Hub, [], name, url ?? throw scope.Error(node, "'hub' needs 'url' (the hub's base URL)"), tokenFile);
    }
}

/// <summary>The body sections a definition and its recipes share (README.md, "Definitions").</summary>
internal static class BodyParser
{
    public static void Apply(YamlScope scope, string key, YamlNode value, Accumulator body)
    {
        switch (key)
        {
            case "packages": Packages(scope, value, body); break;
            case "files": foreach (var item in scope.List(value, "files").Children) body.Files.Add(File(scope, item, body)); break;
            case "run": foreach (var item in scope.List(value, "run").Children) body.Run.Add(Run(scope, item, body)); break;
            case "users": foreach (var item in scope.List(value, "users").Children) body.Users.Add(User(scope, item)); break;
            case "ssh": body.SshKeys.AddRange(SshKeys(scope, value, "ssh")); break;
            case "services": foreach (var item in scope.List(value, "services").Children) body.Services.Add(Service(scope, item, body.Kind)); break;
            case "kernel": body.Kernel = Kernel(scope, value, body); break;
            case "entrypoint":
                ContainerOnly(scope, value, key, body);
                body.Entrypoint = value is YamlScalarNode ? [scope.String(value, "entrypoint")] : scope.StringList(value, "entrypoint");
                if (body.Entrypoint.Count == 0) throw scope.Error(value, "'entrypoint' must name a program");
                break;
            case "env":
                ContainerOnly(scope, value, key, body);
                foreach (var (k, v) in scope.Map(value, "env").Children)
                {
                    var name = scope.String(k, "env name");
                    if (name.Contains('=') || name.Any(char.IsWhiteSpace)) throw scope.Error(k, $"'{name}' is not an environment variable name");
                    body.Env[name] = scope.Text(v, "env." + name);
                }
                break;
            case "workdir":
                ContainerOnly(scope, value, key, body);
                body.WorkingDirectory = AbsolutePath(scope, value, "workdir");
                break;
            case "cleanup":
                foreach (var item in scope.List(value, "cleanup").Children) body.Cleanup.Add(AbsolutePath(scope, item, "cleanup item"));
                break;
        }
    }

    private static void Packages(YamlScope scope, YamlNode node, Accumulator body)
    {
        if (node is YamlSequenceNode)
        {
            body.Install.AddRange(scope.List(node, "packages").Children.Select(i => SourceParser.Word(scope, i, "packages item")));
            return;
        }
        foreach (var (key, _, value) in scope.Keys(scope.Map(node, "packages"), "packages", ["install", "remove"]))
        {
            var names = scope.List(value, "packages." + key).Children.Select(i => SourceParser.Word(scope, i, $"packages.{key} item"));
            (key == "install" ? body.Install : body.Remove).AddRange(names);
        }
    }

    private static FileSpec File(YamlScope scope, YamlNode node, Accumulator body)
    {
        string? path = null, source = null, content = null;
        uint uid = 0, gid = 0;
        int? mode = null;
        var map = scope.Map(node, "files item");
        foreach (var (key, _, value) in scope.Keys(map, "a file", ["path", "source", "content", "owner", "mode"]))
        {
            switch (key)
            {
                case "path": path = AbsolutePath(scope, value, "files.path"); break;
                case "source": source = scope.ExistingPath(value, "files.source"); break;
                case "content": content = scope.Text(value, "files.content"); break;
                case "mode": mode = scope.Mode(value, "files.mode"); break;
                default: (uid, gid) = Owner(scope, value); break;
            }
        }
        if (path is null) throw scope.Error(map, "a file needs 'path' (where it goes in the tree)");
        if ((source is null) == (content is null)) throw scope.Error(map, "a file needs exactly one of 'source' (a host path) or 'content' (inline text)");
        return new FileSpec(path, source, source is null ? null : body.Written(source), content, uid, gid, mode);
    }

    /// <summary><c>owner: UID:GID</c> (numbers) or a single UID used for both.</summary>
    private static (uint, uint) Owner(YamlScope scope, YamlNode node)
    {
        var text = scope.String(node, "owner");
        var parts = text.Split(':');
        if (parts.Length is 1 or 2 && parts.All(p => uint.TryParse(p, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out _)))
        {
            uint uid = uint.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture);
            return (uid, parts.Length == 2 ? uint.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture) : uid);
        }
        throw scope.Error(node, $"'owner' must be numeric UID:GID, like \"0:0\", not '{text}'");
    }

    private static RunStep Run(YamlScope scope, YamlNode node, Accumulator body)
    {
        if (node is YamlScalarNode) return new RunStep(scope.String(node, "run item"), null, null);
        var map = scope.Map(node, "run item");
        var keys = scope.Keys(map, "a run item", ["command", "script"]).ToList();
        if (keys.Count != 1) throw scope.Error(map, "a run item is a command string, {command: …} or {script: PATH}");
        if (keys[0].Key == "command") return new RunStep(scope.String(keys[0].Value, "run.command"), null, null);
        var script = scope.ExistingPath(keys[0].Value, "run.script");
        if (!System.IO.File.Exists(script)) throw scope.Error(keys[0].Value, "'run.script' must be a file");
        return new RunStep(null, script, body.Written(script));
    }

    private static UserSpec User(YamlScope scope, YamlNode node)
    {
        string? name = null, shell = null;
        uint? uid = null;
        IReadOnlyList<string> groups = [], keys = [];
        var map = scope.Map(node, "users item");
        foreach (var (key, _, value) in scope.Keys(map, "a user", ["name", "uid", "groups", "shell", "ssh_keys"]))
        {
            switch (key)
            {
                case "name":
                    name = scope.String(value, "users.name");
                    if (!System.Text.RegularExpressions.Regex.IsMatch(name, "^[a-z_][a-z0-9_-]{0,31}$"))
                        throw scope.Error(value, $"'users.name' must be a POSIX user name (lower case, digits, _ and -), not '{name}'");
                    break;
                case "uid": uid = (uint)scope.Integer(value, "users.uid", 65534); break;
                case "groups": groups = scope.List(value, "users.groups").Children.Select(g => SourceParser.Word(scope, g, "users.groups item")).ToList(); break;
                case "shell": shell = AbsolutePath(scope, value, "users.shell"); break;
                default: keys = SshKeys(scope, value, "users.ssh_keys"); break;
            }
        }
        return new UserSpec(name ?? throw scope.Error(map, "a user needs 'name'"), uid, groups, shell, keys);
    }

    /// <summary>A list of authorized_keys lines (<c>ssh-ed25519 AAAA… comment</c>; options before the key type are not accepted).</summary>
    internal static IReadOnlyList<string> SshKeys(YamlScope scope, YamlNode node, string what)
    {
        var list = scope.List(node, what);
        var keys = new List<string>();
        foreach (var item in list.Children)
        {
            var k = scope.String(item, what + " item").Trim();
            if (k.Contains('\n') || !(k.StartsWith("ssh-", StringComparison.Ordinal) || k.StartsWith("ecdsa-", StringComparison.Ordinal)
                                      || k.StartsWith("sk-", StringComparison.Ordinal)))
                throw scope.Error(item, "an SSH key is one authorized_keys line: ssh-ed25519 AAAA… comment");
            keys.Add(k);
        }
        return keys;
    }

    private static ServiceSpec Service(YamlScope scope, YamlNode node, ImageKind kind)
    {
        if (node is YamlScalarNode)
        {
            if (kind == ImageKind.Container) throw scope.Error(node, "a container service needs {name: …, exec: …} (a zinit service)");
            return new ServiceSpec(UnitName(scope, node), null, false, [], null, null);
        }
        var map = scope.Map(node, "services item");
        string? name = null, exec = null, test = null, unit = null;
        bool oneshot = false;
        IReadOnlyList<string> after = [];
        var vmKeys = new[] { "name", "unit" };
        var containerKeys = new[] { "name", "exec", "oneshot", "after", "test" };
        foreach (var (key, _, value) in scope.Keys(map, kind == ImageKind.Vm ? "a vm service (a systemd unit)" : "a container service (zinit)",
                     kind == ImageKind.Vm ? vmKeys : containerKeys))
        {
            switch (key)
            {
                case "name": name = kind == ImageKind.Vm ? UnitName(scope, value) : SourceParser.Word(scope, value, "services.name"); break;
                case "exec": exec = scope.String(value, "services.exec"); break;
                case "test": test = scope.String(value, "services.test"); break;
                case "unit": unit = scope.Text(value, "services.unit"); break;
                case "oneshot": oneshot = scope.Boolean(value, "services.oneshot"); break;
                default: after = scope.List(value, "services.after").Children.Select(a => SourceParser.Word(scope, a, "services.after item")).ToList(); break;
            }
        }
        if (name is null) throw scope.Error(map, "a service needs 'name'");
        if (kind == ImageKind.Container && exec is null) throw scope.Error(map, "a container service needs 'exec' (the command zinit runs)");
        return new ServiceSpec(name, exec, oneshot, after, test, unit);
    }

    private static string UnitName(YamlScope scope, YamlNode node)
    {
        var name = SourceParser.Word(scope, node, "services.name");
        if (name.Contains('/')) throw scope.Error(node, $"'{name}' is not a unit name");
        return name.Contains('.') ? name : name + ".service";
    }

    private static KernelSpec Kernel(YamlScope scope, YamlNode node, Accumulator body)
    {
        if (body.Kind == ImageKind.Container) throw scope.Error(node, "'kernel' applies to vm definitions (a container runs on ZOS's kernel)");
        if (node is YamlScalarNode)
        {
            var text = scope.String(node, "kernel");
            return text == "image" ? KernelSpec.Image : throw scope.Error(node, $"'kernel' is image, {{family: NAME}} or {{package: NAME}}, not '{text}'");
        }
        var keys = scope.Keys(scope.Map(node, "kernel"), "kernel", ["family", "package"]).ToList();
        if (keys.Count != 1) throw scope.Error(node, "'kernel' takes one of family or package");
        var value = SourceParser.Word(scope, keys[0].Value, "kernel." + keys[0].Key);
        if (keys[0].Key == "package") return new KernelSpec(null, value);
        var families = KernelDefinitions(body).Select(d => d.Family).ToList();
        return families.Contains(value)
            ? new KernelSpec(value, null)
            : throw scope.Error(keys[0].Value, $"no kernel definition for family '{value}' (known: {string.Join(", ", families)})");
    }

    /// <summary>The kernel definitions a definition sees: a <c>kernels/</c> folder next to the images folder overrides the embedded ones.</summary>
    internal static IReadOnlyList<KernelDefinition> KernelDefinitions(Accumulator body) => KernelDefinitionsFor(body.ImagesDirectory);

    /// <summary>The kernel definitions for definitions in <paramref name="imagesDirectory"/>.</summary>
    internal static IReadOnlyList<KernelDefinition> KernelDefinitionsFor(string imagesDirectory)
    {
        var folder = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(imagesDirectory))!, "kernels");
        return Directory.Exists(folder) ? KernelDefinition.LoadWithOverrides(folder) : KernelDefinition.Embedded;
    }

    private static void ContainerOnly(YamlScope scope, YamlNode node, string key, Accumulator body)
    {
        if (body.Kind != ImageKind.Container)
            throw scope.Error(node, $"'{key}' applies to container definitions (a vm boots its own init)");
    }

    private static string AbsolutePath(YamlScope scope, YamlNode node, string what)
    {
        var p = scope.String(node, what);
        if (!p.StartsWith('/') || p.Split('/').Any(c => c is ".." ) || p.Contains('\0'))
            throw scope.Error(node, $"'{what}' must be an absolute path in the tree without '..', not '{p}'");
        return p;
    }
}
