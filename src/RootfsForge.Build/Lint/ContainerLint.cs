using System.Runtime.Versioning;
using RootfsForge.Definitions;
using RootfsForge.Flist;
using RootfsForge.Steps;
using RootfsForge.Tree;
using YamlDotNet.RepresentationModel;

namespace RootfsForge.Lint;

public static partial class Linter
{
    /// <summary>The PATH a container's entrypoint is looked up in when <c>/.startup.toml</c> sets none (Docker's default).</summary>
    private const string DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    /// <summary>
    /// Lints a tree on disk as <paramref name="kind"/>, or as the kind <see cref="KindOf(LintTree)"/> detects when
    /// <c>null</c> (a tree with <c>/boot/vmlinuz</c> is a VM, any other a container).
    /// </summary>
    [SupportedOSPlatform("linux")]
    public static LintReport CheckDirectory(string root, FlistKind? kind, CancellationToken cancellationToken = default)
    {
        using var tree = new DirectoryLintTree(root);
        return Check(tree, kind, cancellationToken);
    }

    /// <summary>Lints any tree source as <paramref name="kind"/>, or as the kind detected when <c>null</c>.</summary>
    public static async Task<LintReport> CheckSourceAsync(ITreeSource source, FlistKind? kind, CancellationToken cancellationToken = default)
    {
        using var tree = await SourceLintTree.CreateAsync(source, cancellationToken).ConfigureAwait(false);
        return Check(tree, kind, cancellationToken);
    }

    /// <summary>
    /// Lints the entries of a walk already made (an <see cref="IndexingTreeSource"/>'s index), as
    /// <paramref name="kind"/> or as the kind detected; contents are read through the entries, so their source must
    /// still be open.
    /// </summary>
    internal static LintReport Check(TreeIndex index, FlistKind? kind, CancellationToken cancellationToken = default)
    {
        using var tree = new SourceLintTree(index);
        return Check(tree, kind, cancellationToken);
    }

    private static LintReport Check(LintTree tree, FlistKind? kind, CancellationToken ct) =>
        (kind ?? KindOf(tree)) == FlistKind.Vm ? Check(tree, ct) : CheckContainer(tree, ct);

    /// <summary>ZOS's own test (docs/zos-vm.md §1): a <c>/boot/vmlinuz</c> entry of any type makes a VM.</summary>
    internal static FlistKind KindOf(LintTree tree) => tree.Get("boot/vmlinuz") is null ? FlistKind.Container : FlistKind.Vm;

    /// <summary>Where zinit reads its units (zinit's <c>load_dir</c>).</summary>
    private const string ZinitUnits = "etc/zinit";

    /// <summary>
    /// The container checks (docs/zos-vm.md §7, container flists): C1 no kernel, C2 the entrypoint of
    /// <c>/.startup.toml</c> is an executable file inside the tree, C3 (advisory) a zinit supervisor, C4 (advisory) the
    /// program of each zinit unit's <c>exec</c> is an executable file inside the tree; and V6, V10, V14, V15 as for a VM.
    /// </summary>
    internal static LintReport CheckContainer(LintTree tree, CancellationToken ct)
    {
        var f = new List<LintFinding>();
        void Add(string id, LintSeverity s, bool ok, string message) => f.Add(new LintFinding(id, s, ok, message));

        // C1: ZOS decides the mode by /boot/vmlinuz alone; a container flist carrying one would boot as a VM.
        var kernel = tree.Get("boot/vmlinuz");
        Add("C1", LintSeverity.Error, kernel is null, kernel is null ? "no /boot/vmlinuz: ZOS runs it as a container"
            : "/boot/vmlinuz exists: ZOS would boot this flist as a full VM with its own kernel");

        var startup = CheckEntrypoint(tree, Add);

        // C3: a supervisor is only needed to run more than the entrypoint (docs/zos-vm.md §9).
        var zinit = tree.Resolve("sbin/zinit");
        bool zinitOk = zinit is { Entry.Type: EntryType.RegularFile } z && (z.Entry.Permissions & 0x49) != 0;
        Add("C3", LintSeverity.Warning, zinitOk, zinitOk ? $"/sbin/zinit -> /{zinit!.Value.Path}"
            : "advisory: no executable /sbin/zinit; fine when the entrypoint is the only process, a supervisor is needed to run more");
        CheckZinitUnits(tree, startup, Add);

        Add("V6", LintSeverity.Error, tree.Get("image.raw") is null,
            tree.Get("image.raw") is null ? "no /image.raw" : "/image.raw exists: ZOS would boot it as a legacy disk VM");
        var stats = TreeStats.Of(tree, ct);
        AddDevChecks(stats, Add);
        AddSizeChecks(stats, Add);
        return new LintReport(f, FlistKind.Container);
    }

    /// <summary>
    /// C2: <c>/.startup.toml</c>'s program resolves, chroot-style (<see cref="LintTree.Resolve"/>), to a regular file with
    /// an execute bit: an absolute name from the root, a name with a slash from <c>dir</c>, a bare name through the
    /// <c>PATH</c> of its environment (Docker's default PATH when it sets none), as a runtime's exec does. Returns the
    /// entry read (null when there is none or it cannot be read).
    /// </summary>
    private static StartupEntry? CheckEntrypoint(LintTree tree, Action<string, LintSeverity, bool, string> add)
    {
        if (tree.Resolve(StartupToml.Path) is not { Entry.Type: EntryType.RegularFile } file)
        {
            add("C2", LintSeverity.Warning, false, "no /.startup.toml: the deployment has to name the entrypoint");
            return null;
        }
        StartupEntry? entry;
        try
        {
            entry = StartupToml.Read(ReadText(tree, file.Path) ?? throw new ImageFormatException("larger than 4 MiB", StartupToml.Path));
        }
        catch (ImageFormatException e)
        {
            add("C2", LintSeverity.Error, false, $"/.startup.toml cannot be read: {e.Message}");
            return null;
        }
        if (entry is null)
        {
            add("C2", LintSeverity.Error, false, "/.startup.toml names no program ([startup.entry.args] name)");
            return null;
        }
        var path = entry.Env.GetValueOrDefault("PATH") ?? DefaultPath;
        add("C2", LintSeverity.Error, FindProgram(tree, entry.Name, entry.Dir, path, out var why), $"entrypoint {why}");
        return entry;
    }

    /// <summary>
    /// C4 (advisory, one finding per unit): zinit starts each unit of <c>/etc/zinit</c> (a regular file named
    /// <c>*.yaml</c> directly in it; zinit skips symlinks and other files) by splitting <c>exec</c> into words
    /// (<see cref="ShellWords"/>) and running the first with the unit's <c>env</c> from its <c>dir</c> (default
    /// <c>/</c>). That program must resolve inside the tree to an executable file, as for C2: a bare name through the
    /// unit's <c>PATH</c>, else that of <c>/.startup.toml</c> (zinit's own environment), else Docker's default.
    /// </summary>
    private static void CheckZinitUnits(LintTree tree, StartupEntry? startup, Action<string, LintSeverity, bool, string> add)
    {
        if (tree.Resolve(ZinitUnits) is not { Entry.Type: EntryType.Directory } dir) return;
        foreach (var name in tree.List(dir.Path).Where(n => n.EndsWith(".yaml", StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        {
            string path = dir.Path + "/" + name;
            if (tree.Get(path) is not { Type: EntryType.RegularFile }) continue;
            string unit = $"zinit unit /{path}";
            string? text = ReadText(tree, path, YamlScope.MaxFileSize);
            if (text is null)
            {
                add("C4", LintSeverity.Warning, false, $"{unit} is larger than {YamlScope.MaxFileSize} bytes: not checked");
                continue;
            }
            YamlMappingNode map;
            try
            {
                map = YamlScope.LoadMapping(text, "/" + path, "a zinit unit (a mapping with exec)");
            }
            catch (DefinitionFormatException e)
            {
                add("C4", LintSeverity.Warning, false, $"{unit} cannot be read, zinit skips it: {e.Message}");
                continue;
            }
            string? exec = Scalar(map, "exec");
            var words = exec is null ? null : ShellWords.Split(exec);
            if (words is not [var program, ..])
            {
                add("C4", LintSeverity.Warning, false, exec is null || words is not null
                    ? $"{unit} has no exec: zinit refuses it"
                    : $"{unit}: exec has an unclosed quote: zinit cannot split it");
                continue;
            }
            string? unitPath = map.Children.TryGetValue(new YamlScalarNode("env"), out var env) && env is YamlMappingNode envMap
                ? Scalar(envMap, "PATH") : null;
            string searchPath = unitPath ?? startup?.Env.GetValueOrDefault("PATH") ?? DefaultPath;
            string workDir = Scalar(map, "dir") is { Length: > 0 } d ? d : "/";
            add("C4", LintSeverity.Warning, FindProgram(tree, program, workDir, searchPath, out var why), $"{unit}: exec {why}");
        }

        static string? Scalar(YamlMappingNode map, string key) =>
            map.Children.TryGetValue(new YamlScalarNode(key), out var node) && node is YamlScalarNode { Value: { } v } ? v : null;
    }

    /// <summary>
    /// Whether <paramref name="program"/>, run as exec(3) runs it from <paramref name="dir"/> with
    /// <paramref name="searchPath"/>, resolves (<see cref="LintTree.Resolve"/>) to a regular file with an execute bit:
    /// an absolute name from the root, a name with a slash from <paramref name="dir"/>, a bare name through the
    /// <paramref name="searchPath"/> directories. <paramref name="why"/> says where it led (starting with the name).
    /// </summary>
    private static bool FindProgram(LintTree tree, string program, string dir, string searchPath, out string why)
    {
        IEnumerable<string> candidates = program.Contains('/')
            ? [program.StartsWith('/') ? program : dir + "/" + program]
            : searchPath.Split(':', StringSplitOptions.RemoveEmptyEntries).Select(d => d + "/" + program);
        (string Path, LintEntry Entry)? found = null;
        foreach (var candidate in candidates)
        {
            var r = tree.Resolve(candidate);
            if (r is { Entry.Type: EntryType.RegularFile } hit && (hit.Entry.Permissions & 0x49) != 0)
            {
                why = $"{program} -> /{hit.Path} (executable)";
                return true;
            }
            found ??= r;
        }
        why = found is { } f ? $"{program} resolves to /{f.Path}, which is not an executable file"
            : program.Contains('/') ? $"{program} does not resolve inside the tree"
            : $"{program} is not found in PATH {searchPath}";
        return false;
    }
}
