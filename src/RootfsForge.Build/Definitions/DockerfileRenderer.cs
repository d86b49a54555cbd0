using System.Text;
using System.Text.Json;

namespace RootfsForge.Definitions;

/// <summary>
/// Renders a <c>container</c> definition as a Docker build context (<c>rootfsforge dockerfile</c>): a <c>Dockerfile</c>,
/// the files it copies under <c>files/</c> (inline content written out, host files and folders copied), scripts under
/// <c>scripts/</c> and zinit service files under <c>zinit/</c>. The steps come in the definition's order — package
/// removals and installs, files, commands, users, ssh keys, services, cleanup — then ENV, WORKDIR and ENTRYPOINT, which
/// <c>rootfsforge container</c> turns into <c>/.startup.toml</c>. The base is <c>ARG BASE</c> (the definition's image),
/// so a mirror or a local copy can stand in with <c>--build-arg BASE=…</c>.
/// </summary>
public static class DockerfileRenderer
{
    /// <summary>Writes the build context for <paramref name="definition"/> into <paramref name="directory"/> (created; must be empty).</summary>
    /// <exception cref="ArgumentException">The definition is not a container from an OCI image, or the folder is not empty.</exception>
    public static void Render(ImageDefinition definition, string directory)
    {
        ArgumentNullException.ThrowIfNull(definition);
        if (definition.Kind != ImageKind.Container)
            throw new ArgumentException($"{definition.File}: only kind: container definitions render as a Dockerfile", nameof(definition));
        if (definition.From is not OciSource oci || !oci.Image.StartsWith("docker://", StringComparison.Ordinal))
            throw new ArgumentException($"{definition.File}: a Dockerfile starts FROM a registry image: from.image must be docker://…", nameof(definition));
        if (Directory.Exists(directory) && Directory.EnumerateFileSystemEntries(directory).Any())
            throw new ArgumentException($"'{directory}' is not empty", nameof(directory));
        Directory.CreateDirectory(directory);

        var d = new StringBuilder();
        d.Append("# Rendered by rootfsforge dockerfile from ").Append(Path.GetFileName(definition.File)).Append(" (name: ").Append(definition.Name).Append(")\n");
        d.Append("ARG BASE=").Append(oci.Image["docker://".Length..]).Append('\n');
        d.Append("FROM ${BASE}\n");
        if (definition.Remove.Count > 0)
            Run(d, PackageCommand("apt-get purge -y", "apk del", definition.Remove));
        if (definition.Install.Count > 0)
            Run(d, PackageCommand("apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends",
                "apk add --no-cache", definition.Install) + " && " + AptListsCleanup);
        foreach (var f in definition.Files)
        {
            string local = "files" + f.Path;
            string full = Path.Combine(directory, local);
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            if (f.Content is not null) File.WriteAllText(full, f.Content, new UTF8Encoding(false));
            else if (Directory.Exists(f.Source)) CopyFolder(f.Source!, full);
            else File.Copy(f.Source!, full);
            int? mode = f.Mode ?? (f.Content is not null ? 0x1A4 : null);
            d.Append("COPY --chown=").Append(f.Uid).Append(':').Append(f.Gid);
            if (mode is int m) d.Append(" --chmod=").Append(Convert.ToString(m, 8).PadLeft(4, '0'));
            d.Append(' ').Append(Json([local, f.Path])).Append('\n');
        }
        int scripts = 0;
        foreach (var r in definition.Run)
        {
            if (r.Command is not null)
            {
                d.Append("RUN ").Append(Json(["/bin/sh", "-c", r.Command])).Append('\n');
                continue;
            }
            string name = $"scripts/{ScriptName(++scripts, r.Script!)}";
            Directory.CreateDirectory(Path.Combine(directory, "scripts"));
            File.Copy(r.Script!, Path.Combine(directory, name));
            string inTree = ScriptFolder + "/" + Path.GetFileName(name);
            d.Append("COPY ").Append(Json([name, inTree])).Append('\n');
            d.Append("RUN ").Append(Json(["/bin/sh", "-c", ScriptCommand(inTree)])).Append('\n');
        }
        foreach (var u in definition.Users)
        {
            Run(d, UserCommand(u));
            if (u.SshKeys.Count > 0) AuthorizedKeys(d, directory, $"/home/{u.Name}/.ssh/authorized_keys", u.SshKeys, u.Name);
        }
        if (definition.SshKeys.Count > 0) AuthorizedKeys(d, directory, "/root/.ssh/authorized_keys", definition.SshKeys, "0:0");
        if (definition.Services.Count > 0)
        {
            Directory.CreateDirectory(Path.Combine(directory, "zinit"));
            // One COPY per file: --chmod on a folder would apply 0644 to /etc/zinit itself.
            foreach (var s in definition.Services)
            {
                File.WriteAllText(Path.Combine(directory, "zinit", s.Name + ".yaml"), ZinitYaml(s), new UTF8Encoding(false));
                d.Append("COPY --chown=0:0 --chmod=0644 ").Append(Json([$"zinit/{s.Name}.yaml", $"/etc/zinit/{s.Name}.yaml"])).Append('\n');
            }
        }
        if (definition.Cleanup.Count > 0)
            Run(d, CleanupCommand(definition.Cleanup));
        foreach (var (k, v) in definition.Env) d.Append("ENV ").Append(k).Append('=').Append(JsonSerializer.Serialize(v, RendererJson.Relaxed.String)).Append('\n');
        if (definition.WorkingDirectory is not null) d.Append("WORKDIR ").Append(definition.WorkingDirectory).Append('\n');
        if (definition.Entrypoint is not null) d.Append("ENTRYPOINT ").Append(Json(definition.Entrypoint)).Append('\n');
        File.WriteAllText(Path.Combine(directory, "Dockerfile"), d.ToString(), new UTF8Encoding(false));
    }

    /// <summary>Where a <c>run: {script: …}</c> is copied while it runs (removed by the same RUN).</summary>
    internal const string ScriptFolder = "/root/.rootfsforge-build";

    /// <summary>The file name of the <paramref name="number"/>th script (from 1) in <see cref="ScriptFolder"/>.</summary>
    internal static string ScriptName(int number, string script) => $"{number:D2}-{Path.GetFileName(script)}";

    /// <summary>The command that runs a copied script and removes <see cref="ScriptFolder"/>.</summary>
    internal static string ScriptCommand(string inTree) => $"sh {Quote(inTree)} && rm -rf {ScriptFolder}";

    /// <summary>The command that creates a user (and its groups) with useradd, or busybox's adduser where there is none.</summary>
    internal static string UserCommand(UserSpec u)
    {
        var cmd = new StringBuilder();
        foreach (var g in u.Groups) cmd.Append($"(getent group {Quote(g)} >/dev/null || groupadd {Quote(g)} || addgroup {Quote(g)}) && ");
        string uid = u.Uid is uint id ? $" -u {id}" : "";
        string shell = u.Shell is not null ? $" -s {Quote(u.Shell)}" : "";
        string groups = u.Groups.Count > 0 ? $" -G {Quote(string.Join(',', u.Groups))}" : "";
        cmd.Append($"if command -v useradd >/dev/null; then useradd -m{uid}{shell}{groups} {Quote(u.Name)}; " +
                   $"else adduser -D{uid}{shell} {Quote(u.Name)}; fi");
        return cmd.ToString();
    }

    /// <summary>The command that removes the <c>cleanup:</c> paths (globs left to the shell).</summary>
    internal static string CleanupCommand(IReadOnlyList<string> cleanup) =>
        "rm -rf " + string.Join(' ', cleanup.Select(c => c.Contains('*') ? c : Quote(c)));

    /// <summary>The command that empties apt's lists after an install, as the Dockerfile's install line does.</summary>
    internal const string AptListsCleanup = "rm -rf /var/lib/apt/lists/*";

    /// <summary>The zinit service file (docs/zos-vm.md §9): exec, oneshot, after, test.</summary>
    internal static string ZinitYaml(ServiceSpec s)
    {
        var y = new StringBuilder();
        y.Append("exec: ").Append(JsonSerializer.Serialize(s.Exec ?? "", RendererJson.Relaxed.String)).Append('\n');
        if (s.Oneshot) y.Append("oneshot: true\n");
        if (s.Test is not null) y.Append("test: ").Append(JsonSerializer.Serialize(s.Test, RendererJson.Relaxed.String)).Append('\n');
        if (s.After.Count > 0)
        {
            y.Append("after:\n");
            foreach (var a in s.After) y.Append("  - ").Append(JsonSerializer.Serialize(a, RendererJson.Relaxed.String)).Append('\n');
        }
        return y.ToString();
    }

    private static void AuthorizedKeys(StringBuilder d, string directory, string path, IReadOnlyList<string> keys, string owner)
    {
        string local = "files" + path;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(directory, local))!);
        File.WriteAllText(Path.Combine(directory, local), string.Concat(keys.Select(k => k + "\n")), new UTF8Encoding(false));
        d.Append("COPY --chown=").Append(owner).Append(" --chmod=0600 ").Append(Json([local, path])).Append('\n');
    }

    private static string PackageCommand(string apt, string apk, IReadOnlyList<string> packages)
    {
        string list = string.Join(' ', packages.Select(Quote));
        return $"if command -v apt-get >/dev/null; then {apt} {list}; elif command -v apk >/dev/null; then {apk} {list}; " +
               "else echo 'no apt-get or apk in the base image' >&2; exit 1; fi";
    }

    private static void Run(StringBuilder d, string command) => d.Append("RUN ").Append(Json(["/bin/sh", "-c", command])).Append('\n');

    private static string Json(IReadOnlyList<string> items) => JsonSerializer.Serialize(items.ToArray(), RendererJson.Relaxed.StringArray);

    /// <summary>A shell word in single quotes.</summary>
    internal static string Quote(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.EnumerateFileSystemEntries(from))
        {
            string target = Path.Combine(to, Path.GetFileName(f));
            if (Directory.Exists(f)) CopyFolder(f, target);
            else File.Copy(f, target);
        }
    }
}

/// <summary>Source-generated JSON for the Dockerfile's exec-form arrays and quoted values.</summary>
[System.Text.Json.Serialization.JsonSerializable(typeof(string[]))]
[System.Text.Json.Serialization.JsonSerializable(typeof(string))]
internal sealed partial class RendererJson : System.Text.Json.Serialization.JsonSerializerContext
{
    private static RendererJson? _relaxed;

    /// <summary>The same contract without HTML escaping (a Dockerfile is not HTML: '&gt;' and '&amp;' stay readable).</summary>
    public static RendererJson Relaxed => _relaxed ??= new(new JsonSerializerOptions(Default.Options)
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });
}
