using RootfsForge.Kernel;

namespace RootfsForge.Steps;

/// <summary>
/// Kernel and initramfs for a ZOS full VM (docs/zos-vm.md §4, §6 steps 4–6): keeps or installs the kernel, makes the
/// initramfs able to mount a virtio-fs root and regenerates it for every installed kernel, and writes /boot/vmlinuz and
/// /boot/initrd.img as relative same-directory symlinks (or regular files for host-supplied ones).
/// </summary>
internal static class KernelStep
{
    private const string InitramfsToolsModules = "etc/initramfs-tools/modules";
    private const string DracutDropIn = "etc/dracut.conf.d/90-rootfsforge-virtiofs.conf";
    private const string MkinitfsConf = "etc/mkinitfs/mkinitfs.conf";

    /// <summary>
    /// Runs the step inside <paramref name="session"/>; the image's distribution is looked up in
    /// <paramref name="definitions"/> (<see cref="KernelDefinition.Embedded"/> unless the caller loaded others).
    /// </summary>
    public static async Task<KernelResult> RunAsync(ChrootSession session, PackageManager? packages, KernelChoice choice,
        bool uncompressedKernel, IReadOnlyList<KernelDefinition> definitions, Action<string>? log, CancellationToken cancellationToken)
    {
        using var tree = new StagingRoot(session.Root);
        var osRelease = tree.ReadAllText("etc/os-release") ?? tree.ReadAllText("usr/lib/os-release");
        var definition = osRelease is null ? null : KernelDefinition.ForOsRelease(osRelease, definitions);
        KernelResult result;
        if (choice.HostKernel is { } hostKernel)
        {
            log?.Invoke($"kernel: copying host files {hostKernel}{(choice.HostInitrd is null ? "" : ", " + choice.HostInitrd)}");
            tree.CreateDirectory("boot");
            CopyIn(tree, hostKernel, "boot/vmlinuz");
            if (choice.HostInitrd is { } hostInitrd) CopyIn(tree, hostInitrd, "boot/initrd.img");
            result = new KernelResult(null, "boot/vmlinuz", choice.HostInitrd is null ? null : "boot/initrd.img", null);
        }
        else
        {
            var package = choice.Package;
            if (package is null && InstalledKernels(tree).Count == 0)
            {
                package = definition?.Package
                          ?? throw new InvalidOperationException("the image has no kernel and its distribution has no kernels/*.yaml definition; use --kernel PKG");
                log?.Invoke($"kernel: the image has none; installing {package} ({definition.Family})");
            }
            if (package is not null)
            {
                if (packages is null) throw new InvalidOperationException("no package manager found in the image to install the kernel");
                await packages.InstallAsync(session, [package], cancellationToken).ConfigureAwait(false);
            }
            var versions = InstalledKernels(tree);
            if (versions.Count == 0) throw new InvalidOperationException("no kernel found under /lib/modules and /boot after the kernel step");
            var tool = DetectInitramfsTool(tree) ?? definition?.Initramfs
                       ?? throw new InvalidOperationException("no initramfs generator (initramfs-tools, dracut, mkinitfs) in the image");
            if (definition is { Verified: false }) log?.Invoke($"kernel: warning: virtio-fs boot with {definition.Family}/{tool} is unverified on ZOS");
            EnsureVirtiofs(tree, tool, log);
            foreach (var version in versions)
                await RegenerateAsync(session, tree, tool, version, cancellationToken).ConfigureAwait(false);
            var newest = versions[^1];
            var kernel = KernelFile(tree, newest) ?? throw new InvalidOperationException($"kernel {newest}: no vmlinuz in /boot or /lib/modules/{newest}");
            var initrd = InitrdFile(tree, newest) ?? throw new InvalidOperationException($"kernel {newest}: no initrd was generated in /boot");
            LinkInBoot(tree, "vmlinuz", kernel);
            LinkInBoot(tree, "initrd.img", initrd);
            log?.Invoke($"kernel: {newest}: /boot/vmlinuz -> {kernel}, /boot/initrd.img -> {initrd}");
            result = new KernelResult(newest, "boot/" + kernel, "boot/" + initrd, null);
        }
        if (uncompressedKernel) result = ExtractUncompressed(tree, result, log, cancellationToken);
        return result;
    }

    /// <summary>Kernel versions that have a /lib/modules/&lt;version&gt; directory and a kernel file, oldest first.</summary>
    private static IReadOnlyList<string> InstalledKernels(StagingRoot tree) =>
        tree.List("lib/modules").Where(v => tree.Stat("lib/modules/" + v) is { IsDirectory: true } && KernelFile(tree, v) is not null)
            .Order(VersionComparer.Instance).ToList();

    private static InitramfsTool? DetectInitramfsTool(StagingRoot tree)
    {
        if (tree.Stat("usr/sbin/update-initramfs") is { IsRegular: true }) return InitramfsTool.InitramfsTools;
        if (tree.Stat("usr/bin/dracut") is { IsRegular: true } || tree.Stat("usr/sbin/dracut") is { IsRegular: true }) return InitramfsTool.Dracut;
        if (tree.Stat("sbin/mkinitfs") is { IsRegular: true } || tree.Stat("usr/sbin/mkinitfs") is { IsRegular: true }) return InitramfsTool.Mkinitfs;
        return null;
    }

    /// <summary>Configures the generator to put virtiofs (and virtio_pci for dracut) into every initramfs.</summary>
    private static void EnsureVirtiofs(StagingRoot tree, InitramfsTool tool, Action<string>? log)
    {
        switch (tool)
        {
            case InitramfsTool.InitramfsTools:
            {
                // ZOS documents "fs-virtiofs" (the module alias); add the module name too so both old and new tools find it.
                var text = tree.ReadAllText(InitramfsToolsModules) ?? "";
                var lines = text.Split('\n').Select(l => l.Trim()).ToHashSet();
                var add = new[] { "virtiofs", "virtio_pci" }.Where(m => !lines.Contains(m)).ToList();
                if (add.Count > 0)
                {
                    if (text.Length > 0 && !text.EndsWith('\n')) text += "\n";
                    tree.WriteAllText(InitramfsToolsModules, text + "# rootfsforge: root filesystem over virtio-fs (ZOS full VM)\n"
                                                              + string.Join("", add.Select(m => m + "\n")));
                    log?.Invoke($"kernel: added {string.Join(", ", add)} to /{InitramfsToolsModules}");
                }
                break;
            }
            case InitramfsTool.Dracut:
                tree.WriteAllText(DracutDropIn, "# rootfsforge: root filesystem over virtio-fs (ZOS full VM); dracut issue #2357\n"
                                                + "add_drivers+=\" virtiofs virtio_pci \"\nadd_dracutmodules+=\" virtiofs \"\n");
                log?.Invoke($"kernel: wrote /{DracutDropIn}");
                break;
            case InitramfsTool.Mkinitfs:
            {
                var text = tree.ReadAllText(MkinitfsConf) ?? "features=\"base\"\n";
                if (!text.Contains("virtiofs"))
                {
                    // mkinitfs reads features="..." ; a "virtiofs" feature needs /etc/mkinitfs/features.d/virtiofs.modules.
                    tree.WriteAllText("etc/mkinitfs/features.d/virtiofs.modules", "kernel/fs/fuse/virtiofs.ko*\nkernel/drivers/virtio\n");
                    text = System.Text.RegularExpressions.Regex.Replace(text, "features=\"([^\"]*)\"", "features=\"$1 virtiofs\"");
                    tree.WriteAllText(MkinitfsConf, text);
                }
                log?.Invoke("kernel: warning: mkinitfs with a virtiofs root is unverified");
                break;
            }
        }
    }

    private static Task RegenerateAsync(ChrootSession session, StagingRoot tree, InitramfsTool tool, string version, CancellationToken ct) =>
        tool switch
        {
            InitramfsTool.InitramfsTools =>
                session.RunAsync(["update-initramfs", InitrdFile(tree, version) is null ? "-c" : "-u", "-k", version], "[initramfs] ", ct),
            InitramfsTool.Dracut => session.RunAsync(["dracut", "--force", "--kver", version, $"/boot/initramfs-{version}.img"], "[dracut] ", ct),
            _ => session.RunAsync(["mkinitfs", version], "[mkinitfs] ", ct),
        };

    /// <summary>The name in /boot of a version's kernel (copying it there from /lib/modules/VER/vmlinuz if only that exists).</summary>
    private static string? KernelFile(StagingRoot tree, string version)
    {
        foreach (var name in new[] { $"vmlinuz-{version}", $"vmlinux-{version}" })
            if (tree.Stat("boot/" + name) is { IsRegular: true }) return name;
        if (tree.Stat($"lib/modules/{version}/vmlinuz") is { IsRegular: true })
        {
            using var input = tree.OpenRead($"lib/modules/{version}/vmlinuz")!;
            tree.CreateDirectory("boot");
            tree.WriteFile($"boot/vmlinuz-{version}", s => input.CopyTo(s), 0x1A4);
            return $"vmlinuz-{version}";
        }
        return null;
    }

    private static string? InitrdFile(StagingRoot tree, string version)
    {
        foreach (var name in new[] { $"initrd.img-{version}", $"initramfs-{version}.img", $"initrd-{version}", $"initramfs-{version}" })
            if (tree.Stat("boot/" + name) is { IsRegular: true }) return name;
        return null;
    }

    /// <summary>
    /// /boot/NAME as a relative symlink to a file in the same directory (docs/zos-vm.md §1: ZOS rejects "../" and
    /// absolute).
    /// </summary>
    private static void LinkInBoot(StagingRoot tree, string name, string target)
    {
        if (tree.Lstat("boot/" + name) is { IsRegular: true } && name == target) return;
        tree.CreateSymlink("boot/" + name, target);
    }

    private static void CopyIn(StagingRoot tree, string hostPath, string treePath)
    {
        using var input = File.OpenRead(hostPath);
        tree.WriteFile(treePath, s => input.CopyTo(s), 0x1A4);
    }

    private static KernelResult ExtractUncompressed(StagingRoot tree, KernelResult result, Action<string>? log, CancellationToken ct)
    {
        var bytes = tree.ReadAllBytes(result.Kernel, 256 << 20) ?? throw new InvalidOperationException($"/{result.Kernel} is not readable");
        if (BzImage.IsElf(bytes))
        {
            log?.Invoke("kernel: already an ELF; nothing to extract");
            return result with { Uncompressed = result.Kernel };
        }
        var name = result.Version is { } v ? $"vmlinux-{v}" : "vmlinux";
        KernelCompression compression = KernelCompression.None;
        tree.WriteFile("boot/" + name, s => compression = KernelPayload.ExtractVmlinux(bytes, s, ct), 0x1A4);
        using (var elf = tree.OpenRead("boot/" + name)!)
            if (!BzImage.HasPvhNote(elf))
            {
                tree.Delete("boot/" + name);
                throw new InvalidOperationException($"the kernel's ELF has no Xen PVH note (CONFIG_PVH); it cannot be booted as an uncompressed kernel");
            }
        // docs/zos-vm.md §4: ship the ELF separately, point /boot/vmlinuz at it, keep the bzImage in /boot.
        tree.CreateSymlink("boot/vmlinuz", name);
        log?.Invoke($"kernel: extracted the {compression} payload to /boot/{name} (ELF with PVH note); /boot/vmlinuz -> {name}");
        return result with { Kernel = "boot/" + name, Uncompressed = "boot/" + name };
    }
}

/// <summary>Orders kernel versions like "6.1.0-28-amd64" numerically component by component.</summary>
internal sealed class VersionComparer : IComparer<string>
{
    public static readonly VersionComparer Instance = new();

    public int Compare(string? x, string? y)
    {
        var a = Split(x ?? "");
        var b = Split(y ?? "");
        for (int i = 0; i < Math.Min(a.Count, b.Count); i++)
        {
            int c = long.TryParse(a[i], out var na) && long.TryParse(b[i], out var nb) ? na.CompareTo(nb) : string.CompareOrdinal(a[i], b[i]);
            if (c != 0) return c;
        }
        return a.Count.CompareTo(b.Count);
    }

    private static List<string> Split(string s) =>
        System.Text.RegularExpressions.Regex.Matches(s, @"\d+|[^\d.\-_+~]+").Select(m => m.Value).ToList();
}
