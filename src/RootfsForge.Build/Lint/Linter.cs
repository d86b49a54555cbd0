using System.Text.RegularExpressions;
using RootfsForge.Kernel;
using RootfsForge.Steps;
using RootfsForge.Tree;

namespace RootfsForge.Lint;

/// <summary>
/// The static checks of docs/zos-vm.md §7 for a full-VM flist (V1–V15), on a directory or on any <see cref="ITreeSource"/>
/// (a tar, an image). Each check reports pass/fail with the reason.
/// </summary>
public static partial class Linter
{
    private static readonly Version MinimumCloudInit = new(22, 3);
    private const long MaxInitrd = 1L << 30;

    /// <summary>Lints a tree on disk (read through openat2, never following a link outside it).</summary>
    public static LintReport CheckDirectory(string root, CancellationToken cancellationToken = default)
    {
        using var tree = new DirectoryLintTree(root);
        return Check(tree, cancellationToken);
    }

    /// <summary>Lints any tree source (entries indexed in memory; file contents read on demand).</summary>
    public static async Task<LintReport> CheckSourceAsync(ITreeSource source, CancellationToken cancellationToken = default)
    {
        using var tree = await SourceLintTree.CreateAsync(source, cancellationToken).ConfigureAwait(false);
        return Check(tree, cancellationToken);
    }

    internal static LintReport Check(LintTree tree, CancellationToken ct)
    {
        var f = new List<LintFinding>();
        void Add(string id, LintSeverity s, bool ok, string message) => f.Add(new LintFinding(id, s, ok, message));

        // V1/V2: the kernel.
        var kernel = CheckBootPath(tree, "boot/vmlinuz", out var kernelWhy);
        Add("V1", LintSeverity.Error, kernel is not null, kernelWhy);
        string? kernelVersion = null;
        if (kernel is not null)
        {
            using var s = tree.Open(kernel);
            var head = new byte[Math.Min(s.Length, 64 << 10)];
            s.ReadExactly(head);
            if (BzImage.IsBzImage(head))
            {
                kernelVersion = BzImage.KernelVersion(head);
                Add("V2", LintSeverity.Error, true, $"bzImage, version {kernelVersion ?? "unknown"}");
            }
            else if (BzImage.IsElf(head))
            {
                bool pvh = BzImage.HasPvhNote(s);
                Add("V2", LintSeverity.Error, pvh, pvh ? "ELF kernel with a Xen PVH note" : "ELF kernel without a Xen PVH note (PHYS32_ENTRY): cannot be booted");
            }
            else Add("V2", LintSeverity.Error, false, $"/{kernel} is neither a bzImage (HdrS) nor an ELF");
        }
        else Add("V2", LintSeverity.Error, false, "no kernel to check");

        // Kernel version: from the bzImage string, else the only /lib/modules entry.
        var moduleVersions = DirectoryNames(tree, "lib/modules").ToList();
        if (kernelVersion is null && moduleVersions.Count == 1) kernelVersion = moduleVersions[0];
        var builtin = kernelVersion is null ? "" : ReadText(tree, $"lib/modules/{kernelVersion}/modules.builtin") ?? "";
        bool virtiofsBuiltin = builtin.Contains("/virtiofs.ko");

        // V3/V4: the initrd and virtiofs inside it.
        var initrd = CheckBootPath(tree, "boot/initrd.img", out var initrdWhy);
        Add("V3", virtiofsBuiltin ? LintSeverity.Warning : LintSeverity.Error, initrd is not null,
            initrd is null && virtiofsBuiltin ? initrdWhy + " (virtio-fs is built into the kernel)" : initrdWhy);
        if (virtiofsBuiltin)
            Add("V4", LintSeverity.Error, true, $"virtiofs is built into kernel {kernelVersion} (modules.builtin)");
        else if (initrd is null)
            Add("V4", LintSeverity.Error, false, "no initrd, and virtiofs is not built into the kernel");
        else
        {
            try
            {
                using var s = tree.Open(initrd);
                if (s.Length > MaxInitrd) throw new ImageFormatException("initrd larger than 1 GiB", "initrd", 0);
                var names = InitramfsReader.ListNames(s, ct);
                var module = names.FirstOrDefault(n => Regex.IsMatch(n, @"(^|/)virtiofs\.ko(\.(zst|xz|gz))?$"));
                Add("V4", LintSeverity.Error, module is not null,
                    module is not null ? $"the initrd ({names.Count} entries) contains {module}"
                    : $"the initrd ({names.Count} entries) has no virtiofs.ko and the kernel does not build it in: the root cannot be mounted");
            }
            catch (ImageFormatException e)
            {
                Add("V4", LintSeverity.Error, false, $"the initrd cannot be read: {e.Message}");
            }
        }

        // V5: modules for data disks, cidata and network.
        if (kernelVersion is null || tree.Get($"lib/modules/{kernelVersion}") is not { Type: EntryType.Directory })
            Add("V5", LintSeverity.Warning, false, kernelVersion is null ? "kernel version unknown" : $"no /lib/modules/{kernelVersion} for the kernel");
        else
        {
            var dep = ReadText(tree, $"lib/modules/{kernelVersion}/modules.dep", 64 << 20) ?? "";
            var missing = new[] { "btrfs", "vfat", "virtio_net" }.Where(m => !dep.Contains($"/{m}.ko") && !builtin.Contains($"/{m}.ko")).ToList();
            Add("V5", LintSeverity.Warning, missing.Count == 0, missing.Count == 0
                ? $"/lib/modules/{kernelVersion} has btrfs, vfat, virtio_net"
                : $"/lib/modules/{kernelVersion} lacks {string.Join(", ", missing)}");
        }

        // V6
        Add("V6", LintSeverity.Error, tree.Get("image.raw") is null,
            tree.Get("image.raw") is null ? "no /image.raw" : "/image.raw exists: ZOS would boot it as a legacy disk VM");

        // V7: /sbin/init, chroot-style.
        var init = tree.Resolve("sbin/init");
        bool initOk = init is { Entry.Type: EntryType.RegularFile } i && (i.Entry.Permissions & 0x49) != 0;
        Add("V7", LintSeverity.Error, initOk, init is null ? "/sbin/init does not resolve" :
            initOk ? $"/sbin/init -> /{init.Value.Path}" : $"/sbin/init resolves to /{init.Value.Path}, which is not an executable file");

        // V8: cloud-init present, new enough, no instance state.
        var ciVersion = CloudInitVersion(tree);
        var instances = tree.List("var/lib/cloud/instances").ToList();
        bool ciPresent = tree.Resolve("usr/bin/cloud-init") is not null;
        Add("V8", LintSeverity.Error, ciPresent && ciVersion >= MinimumCloudInit && instances.Count == 0,
            !ciPresent ? "cloud-init is not installed (ZOS configures users, keys and network through NoCloud)"
            : ciVersion is null ? "cloud-init version unknown (no cloudinit/version.py)"
            : ciVersion < MinimumCloudInit ? $"cloud-init {ciVersion} is older than 22.3 (ignores MAC matches, zos#1804)"
            : instances.Count > 0 ? $"cloud-init {ciVersion}, but /var/lib/cloud/instances holds state ({string.Join(", ", instances)}): first boot would not run as a new instance"
            : $"cloud-init {ciVersion}, no instance state");

        // V9: fstab.
        var fstab = ReadText(tree, "etc/fstab") ?? "";
        var active = fstab.Split('\n').Where(ZosRules.IsBlockDeviceEntry).ToList();
        Add("V9", LintSeverity.Error, active.Count == 0, active.Count == 0 ? "/etc/fstab has no root, /boot, EFI or swap entries"
            : $"/etc/fstab mounts block devices that do not exist on ZOS: {string.Join(" | ", active.Select(l => l.Trim()))}");

        // V10, V14, V15: one walk.
        var stats = TreeStats.Of(tree, ct);
        AddDevChecks(stats, Add);

        // V11: machine-id, host keys, resolv.conf.
        var machineId = tree.Get("etc/machine-id");
        Add("V11", LintSeverity.Warning, machineId is { Type: EntryType.RegularFile, Size: 0 },
            machineId is null ? "/etc/machine-id is missing (should exist, empty)" : machineId is { Type: EntryType.RegularFile, Size: 0 }
                ? "/etc/machine-id is empty" : "/etc/machine-id is not an empty file: every VM would share one machine id");
        var keys = tree.List("etc/ssh").Where(n => n.StartsWith("ssh_host_", StringComparison.Ordinal)).ToList();
        Add("V11", LintSeverity.Warning, keys.Count == 0, keys.Count == 0 ? "no SSH host keys" : $"SSH host keys present ({string.Join(", ", keys)}): every VM would share them");
        var resolv = tree.Get("etc/resolv.conf");
        var hostResolv = ZosRules.ReadBuildHostResolvConf();
        bool hostCopy = resolv is { Type: EntryType.RegularFile, Size: > 0 } && hostResolv is { Length: > 0 }
                        && ReadText(tree, "etc/resolv.conf") == hostResolv;
        Add("V11", LintSeverity.Warning, !hostCopy, hostCopy ? "/etc/resolv.conf is a copy of the build host's" : "/etc/resolv.conf is not the build host's");

        // V12: sshd and root key login.
        var sshd = tree.Resolve("usr/sbin/sshd");
        var permit = PermitRootLogin(tree);
        Add("V12", LintSeverity.Warning, sshd is not null && permit != "no",
            sshd is null ? "openssh-server is not installed" : permit == "no"
                ? "sshd_config sets PermitRootLogin no: ZOS gives root the SSH keys" : $"sshd present, PermitRootLogin {permit ?? "default (prohibit-password)"}");

        // V13
        Add("V13", LintSeverity.Warning, tree.Get(".startup.toml") is null,
            tree.Get(".startup.toml") is null ? "no /.startup.toml" : "/.startup.toml exists: its env is merged into the deployment");

        AddSizeChecks(stats, Add);
        return new LintReport(f, FlistKind.Vm);
    }

    /// <summary>The counts of the one walk that V10, V14 and V15 need.</summary>
    private sealed record TreeStats(List<string> DevEntries, List<string> Specials, List<string> XattrFiles, long Files,
        long TotalBytes, Dictionary<string, long> TopSizes)
    {
        public static TreeStats Of(LintTree tree, CancellationToken ct)
        {
            var stats = new TreeStats(tree.List("dev").ToList(), [], [], 0, 0, new Dictionary<string, long>(StringComparer.Ordinal));
            long files = 0, totalBytes = 0;
            foreach (var e in tree.All(ct))
            {
                files++;
                if (e.Type == EntryType.RegularFile)
                {
                    totalBytes += e.Size;
                    var top = e.Path.Split('/')[0];
                    stats.TopSizes[top] = stats.TopSizes.GetValueOrDefault(top) + e.Size;
                }
                if (e.Type is EntryType.CharacterDevice or EntryType.BlockDevice or EntryType.Fifo or EntryType.Socket
                    && !e.Path.StartsWith("dev/", StringComparison.Ordinal)) stats.Specials.Add(e.Path);
                if (e.XattrCount > 0) stats.XattrFiles.Add(e.Path);
            }
            return stats with { Files = files, TotalBytes = totalBytes };
        }
    }

    private static void AddDevChecks(TreeStats stats, Action<string, LintSeverity, bool, string> add)
    {
        var devEntries = stats.DevEntries;
        var specials = stats.Specials;
        add("V10", LintSeverity.Error, devEntries.Count == 0, devEntries.Count == 0 ? "/dev is empty"
            : $"/dev holds {devEntries.Count} entries ({string.Join(", ", devEntries.Take(5))}…); devtmpfs provides them at boot");
        add("V10", LintSeverity.Warning, specials.Count == 0, specials.Count == 0 ? "no device nodes, FIFOs or sockets outside /dev"
            : $"{specials.Count} device node(s)/FIFO(s)/socket(s) outside /dev: {string.Join(", ", specials.Take(5))}");
    }

    private static void AddSizeChecks(TreeStats stats, Action<string, LintSeverity, bool, string> add)
    {
        var xattrFiles = stats.XattrFiles;
        add("V14", LintSeverity.Info, xattrFiles.Count == 0, xattrFiles.Count == 0 ? "no extended attributes"
            : $"{xattrFiles.Count} entr{(xattrFiles.Count == 1 ? "y has" : "ies have")} extended attributes (lost in .fl): {string.Join(", ", xattrFiles.Take(5))}");
        add("V15", LintSeverity.Info, true, $"{stats.Files} entries, {stats.TotalBytes / 1048576.0:F1} MiB in files; biggest: "
            + string.Join(", ", stats.TopSizes.OrderByDescending(kv => kv.Value).Take(4).Select(kv => $"/{kv.Key} {kv.Value / 1048576.0:F1} MiB")));
    }

    /// <summary>
    /// ZOS's rules for /boot/vmlinuz and /boot/initrd.img (docs/zos-vm.md §1): a regular file, or a symlink whose text is
    /// relative without "..", resolving (from /boot, as the node's stat does) to a regular file in the tree.
    /// </summary>
    internal static string? CheckBootPath(LintTree tree, string path, out string why)
    {
        var entry = tree.Get(path);
        if (entry is null) { why = $"/{path} does not exist"; return null; }
        var chain = new List<string>();
        for (int hops = 0; hops < 40; hops++)
        {
            switch (entry.Type)
            {
                case EntryType.RegularFile:
                    why = chain.Count == 0 ? $"/{path} is a regular file" : $"/{path} -> {string.Join(" -> ", chain)} (regular file)";
                    return entry.Path;
                case EntryType.Directory:
                    why = $"/{path} is a directory"; return null;
                case EntryType.SymbolicLink:
                    var target = entry.LinkTarget ?? "";
                    if (target.StartsWith('/'))
                    {
                        why = $"/{entry.Path} -> {target} is absolute: the node resolves it against its own root and boots container mode";
                        return null;
                    }
                    if (LintTree.Split(target).Contains(".."))
                    {
                        why = $"/{entry.Path} -> {target} contains '..': ZOS rejects it (\"points to invalid location\")";
                        return null;
                    }
                    chain.Add(target);
                    int slash = entry.Path.LastIndexOf('/');
                    var next = LintTree.Normalize((slash < 0 ? "" : entry.Path[..slash]) + "/" + target);
                    var resolved = tree.Resolve(next);
                    // Components before the last may themselves be links (resolved chroot-style); then re-check the final one.
                    var e2 = tree.Get(next) ?? (resolved is { } r ? r.Entry : null);
                    if (e2 is null) { why = $"/{path} -> {string.Join(" -> ", chain)} does not resolve inside the tree"; return null; }
                    entry = e2;
                    continue;
                default:
                    why = $"/{path} is a {entry.Type}, not a file"; return null;
            }
        }
        why = $"/{path}: too many symlinks";
        return null;
    }

    private static IEnumerable<string> DirectoryNames(LintTree tree, string dir) =>
        tree.Resolve(dir) is { Entry.Type: EntryType.Directory } d
            ? tree.List(d.Path).Where(n => tree.Resolve(d.Path + "/" + n) is { Entry.Type: EntryType.Directory })
            : [];

    private static string? ReadText(LintTree tree, string path, int limit = 4 << 20)
    {
        if (tree.Resolve(path) is not { Entry.Type: EntryType.RegularFile } r || r.Entry.Size > limit) return null;
        using var s = tree.Open(r.Path);
        using var reader = new StreamReader(s);
        return reader.ReadToEnd();
    }

    private static Version? CloudInitVersion(LintTree tree)
    {
        foreach (var lib in new[] { "usr/lib", "usr/lib64", "usr/local/lib" })
            foreach (var py in tree.List(lib).Where(n => n.StartsWith("python3", StringComparison.Ordinal)).Order())
                foreach (var site in new[] { "dist-packages", "site-packages" })
                    if (ReadText(tree, $"{lib}/{py}/{site}/cloudinit/version.py") is { } text
                        && Regex.Match(text, @"__VERSION__\s*=\s*[""'](\d+)\.(\d+)") is { Success: true } m)
                        return new Version(int.Parse(m.Groups[1].Value), int.Parse(m.Groups[2].Value));
        return null;
    }

    private static string? PermitRootLogin(LintTree tree)
    {
        // sshd uses the first value it reads; Include'd drop-ins come first on Debian/Ubuntu.
        var texts = tree.List("etc/ssh/sshd_config.d").Where(n => n.EndsWith(".conf")).Order()
            .Select(n => ReadText(tree, "etc/ssh/sshd_config.d/" + n)).Append(ReadText(tree, "etc/ssh/sshd_config"));
        foreach (var text in texts)
            foreach (var line in (text ?? "").Split('\n'))
                if (Regex.Match(line, @"^\s*PermitRootLogin\s+(\S+)", RegexOptions.IgnoreCase) is { Success: true } m)
                    return m.Groups[1].Value.ToLowerInvariant();
        return null;
    }
}
