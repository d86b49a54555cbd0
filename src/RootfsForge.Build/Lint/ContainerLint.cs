using System.Runtime.Versioning;
using RootfsForge.Flist;
using RootfsForge.Tree;

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

    private static LintReport Check(LintTree tree, FlistKind? kind, CancellationToken ct) =>
        (kind ?? KindOf(tree)) == FlistKind.Vm ? Check(tree, ct) : CheckContainer(tree, ct);

    /// <summary>ZOS's own test (docs/zos-vm.md §1): a <c>/boot/vmlinuz</c> entry of any type makes a VM.</summary>
    internal static FlistKind KindOf(LintTree tree) => tree.Get("boot/vmlinuz") is null ? FlistKind.Container : FlistKind.Vm;

    /// <summary>
    /// The container checks (docs/zos-vm.md §7, container flists): C1 no kernel, C2 the entrypoint of
    /// <c>/.startup.toml</c> is an executable file inside the tree, C3 (advisory) a zinit supervisor; and V6, V10, V14,
    /// V15 as for a VM.
    /// </summary>
    internal static LintReport CheckContainer(LintTree tree, CancellationToken ct)
    {
        var f = new List<LintFinding>();
        void Add(string id, LintSeverity s, bool ok, string message) => f.Add(new LintFinding(id, s, ok, message));

        // C1: ZOS decides the mode by /boot/vmlinuz alone; a container flist carrying one would boot as a VM.
        var kernel = tree.Get("boot/vmlinuz");
        Add("C1", LintSeverity.Error, kernel is null, kernel is null ? "no /boot/vmlinuz: ZOS runs it as a container"
            : "/boot/vmlinuz exists: ZOS would boot this flist as a full VM with its own kernel");

        CheckEntrypoint(tree, Add);

        // C3: a supervisor is only needed to run more than the entrypoint (docs/zos-vm.md §9).
        var zinit = tree.Resolve("sbin/zinit");
        bool zinitOk = zinit is { Entry.Type: EntryType.RegularFile } z && (z.Entry.Permissions & 0x49) != 0;
        Add("C3", LintSeverity.Warning, zinitOk, zinitOk ? $"/sbin/zinit -> /{zinit!.Value.Path}"
            : "advisory: no executable /sbin/zinit; fine when the entrypoint is the only process, a supervisor is needed to run more");

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
    /// <c>PATH</c> of its environment (Docker's default PATH when it sets none), as a runtime's exec does.
    /// </summary>
    private static void CheckEntrypoint(LintTree tree, Action<string, LintSeverity, bool, string> add)
    {
        if (tree.Resolve(StartupToml.Path) is not { Entry.Type: EntryType.RegularFile } file)
        {
            add("C2", LintSeverity.Warning, false, "no /.startup.toml: the deployment has to name the entrypoint");
            return;
        }
        StartupEntry? entry;
        try
        {
            entry = StartupToml.Read(ReadText(tree, file.Path) ?? throw new ImageFormatException("larger than 4 MiB", StartupToml.Path));
        }
        catch (ImageFormatException e)
        {
            add("C2", LintSeverity.Error, false, $"/.startup.toml cannot be read: {e.Message}");
            return;
        }
        if (entry is null)
        {
            add("C2", LintSeverity.Error, false, "/.startup.toml names no program ([startup.entry.args] name)");
            return;
        }
        IEnumerable<string> candidates = entry.Name.Contains('/')
            ? [entry.Name.StartsWith('/') ? entry.Name : entry.Dir + "/" + entry.Name]
            : (entry.Env.GetValueOrDefault("PATH") ?? DefaultPath).Split(':', StringSplitOptions.RemoveEmptyEntries)
                .Select(dir => dir + "/" + entry.Name);
        (string Path, LintEntry Entry)? found = null;
        foreach (var candidate in candidates)
        {
            var r = tree.Resolve(candidate);
            if (r is { Entry.Type: EntryType.RegularFile } hit && (hit.Entry.Permissions & 0x49) != 0)
            {
                add("C2", LintSeverity.Error, true, $"entrypoint {entry.Name} -> /{hit.Path} (executable)");
                return;
            }
            found ??= r;
        }
        add("C2", LintSeverity.Error, false, found is { } f
            ? $"entrypoint {entry.Name} resolves to /{f.Path}, which is not an executable file"
            : entry.Name.Contains('/') ? $"entrypoint {entry.Name} does not resolve inside the tree"
            : $"entrypoint {entry.Name} is not found in PATH {entry.Env.GetValueOrDefault("PATH") ?? DefaultPath}");
    }
}
