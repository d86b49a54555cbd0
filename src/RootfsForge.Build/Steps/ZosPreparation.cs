
namespace RootfsForge.Steps;

/// <summary>
/// Makes a tree ZOS-ready (docs/zos-vm.md §6 steps 7–9): no block-device assumptions in fstab, NoCloud allowed, an
/// empty machine-id, no SSH host keys (with regeneration ensured), a neutral hostname/hosts/resolv.conf, caches, lists,
/// logs, /tmp and cloud-init state cleaned, /dev emptied and /image.raw deleted. Runs on an unmounted tree (no chroot
/// needed); every write goes through <see cref="StagingRoot"/> and so stays inside the tree.
/// </summary>
internal static class ZosPreparation
{
    private const string HostKeyUnit = "etc/systemd/system/rootfsforge-ssh-hostkeys.service";
    private const string CloudConfig = "etc/cloud/cloud.cfg.d/99-rootfsforge-zos.cfg";

    /// <summary>Runs every hygiene step. <paramref name="buildHostResolvConf"/>: the host's resolv.conf content, to recognise a copy.</summary>
    public static void Run(string root, Action<string>? log = null, string? buildHostResolvConf = null)
    {
        var left = MountTable.MountsUnder(root);
        if (left.Count > 0) throw new InvalidOperationException($"ZOS preparation needs an unmounted tree; still mounted: {string.Join(", ", left)}");
        using var tree = new StagingRoot(root);
        void Log(string m) => log?.Invoke("zos: " + m);

        CleanFstab(tree, Log);
        if (tree.Stat("etc/cloud") is { IsDirectory: true })
        {
            // Later files win; 99 comes after the distro's 90_dpkg.cfg. ZOS attaches a NoCloud (cidata) disk
            // (docs/zos-vm.md §5).
            tree.WriteAllText(CloudConfig, "# rootfsforge: ZOS attaches a NoCloud seed disk labelled cidata\ndatasource_list: [ NoCloud, None ]\n");
            Log($"NoCloud datasource allowed (/{CloudConfig})");
        }
        // machine-id: present and empty, so systemd generates one on first boot (docs/zos-vm.md §6 step 9).
        if (tree.Exists("etc")) tree.WriteFile("etc/machine-id", _ => { }, 0x124);
        if (tree.Lstat("var/lib/dbus/machine-id") is not null)
            tree.CreateSymlink("var/lib/dbus/machine-id", "/etc/machine-id");
        Log("machine-id emptied");

        int keys = 0;
        foreach (var name in tree.List("etc/ssh").Where(n => n.StartsWith("ssh_host_", StringComparison.Ordinal)))
        {
            tree.Delete("etc/ssh/" + name);
            keys++;
        }
        EnsureHostKeyRegeneration(tree, Log);
        Log($"removed {keys} SSH host key file(s)");

        RestoreResolvConf(tree, buildHostResolvConf, Log);
        if (tree.Exists("etc"))
        {
            tree.WriteAllText("etc/hostname", "localhost\n");
            tree.WriteAllText("etc/hosts", "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\nff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n");
        }

        // Package caches and lists (apt-get clean leaves the lists; dnf/yum/apk caches), temp dirs, history.
        tree.DeleteContents("var/cache/apt", keep: n => n == "archives");
        tree.DeleteContents("var/cache/apt/archives", keep: n => n is "partial" or "lock");
        tree.DeleteContents("var/lib/apt/lists", keep: n => n is "partial" or "lock");
        foreach (var d in new[] { "var/cache/dnf", "var/cache/yum", "var/cache/apk", "tmp", "var/tmp", "var/lib/cloud" })
            tree.DeleteContents(d);
        foreach (var f in new[] { "root/.bash_history", "root/.ash_history", "root/.wget-hsts", "image.raw", "etc/resolv.conf.rootfsforge-saved", "usr/sbin/policy-rc.d.rootfsforge-saved" })
            tree.Delete(f);
        int logs = TruncateLogs(tree, "var/log", 0);
        Log($"caches, lists, /tmp, cloud-init state cleaned; {logs} log file(s) truncated; /image.raw absent");

        // /dev: devtmpfs provides it at boot (docs/zos-vm.md §6 step 9); the flist must hold nothing there.
        tree.DeleteContents("dev");
        Log("/dev emptied");
    }

    /// <summary>Comments out fstab entries for /, /boot, /boot/efi and swap (by device, LABEL= or UUID=).</summary>
    private static void CleanFstab(StagingRoot tree, Action<string> log)
    {
        var text = tree.ReadAllText("etc/fstab");
        if (text is null) return;
        var output = new System.Text.StringBuilder();
        int removed = 0;
        foreach (var line in text.Split('\n'))
        {
            if (ZosRules.IsBlockDeviceEntry(line))
            {
                output.Append("# rootfsforge (ZOS: root is virtio-fs): ").Append(line).Append('\n');
                removed++;
            }
            else output.Append(line).Append('\n');
        }
        if (removed == 0) return;
        tree.WriteAllText("etc/fstab", output.ToString().TrimEnd('\n') + "\n");
        log($"fstab: {removed} root/boot/efi/swap entr{(removed == 1 ? "y" : "ies")} commented out");
    }

    private static void EnsureHostKeyRegeneration(StagingRoot tree, Action<string> log)
    {
        if (tree.Stat("usr/bin/ssh-keygen") is not { IsRegular: true }) return;
        // cloud-init's ssh module regenerates keys on a new instance; this unit covers images without it or with it disabled.
        if (tree.Stat("etc/systemd/system") is { IsDirectory: true })
        {
            tree.WriteAllText(HostKeyUnit, """
                [Unit]
                Description=Generate missing SSH host keys (rootfsforge; ZOS deletes them on first boot)
                Before=ssh.service sshd.service
                ConditionFileNotEmpty=|!/etc/ssh/ssh_host_ed25519_key
                ConditionFileNotEmpty=|!/etc/ssh/ssh_host_rsa_key

                [Service]
                Type=oneshot
                ExecStart=/usr/bin/ssh-keygen -A

                [Install]
                WantedBy=multi-user.target

                """);
            tree.CreateSymlink("etc/systemd/system/multi-user.target.wants/rootfsforge-ssh-hostkeys.service",
                "/" + HostKeyUnit);
            log("SSH host keys regenerated at boot by rootfsforge-ssh-hostkeys.service");
        }
    }

    private static void RestoreResolvConf(StagingRoot tree, string? buildHostResolvConf, Action<string> log)
    {
        var st = tree.Lstat("etc/resolv.conf");
        if (st is { IsSymlink: true }) return; // the distro's own link (e.g. Ubuntu's stub-resolv.conf)
        bool resolved = tree.Stat("usr/lib/systemd/systemd-resolved") is { IsRegular: true };
        var current = st is { IsRegular: true } ? tree.ReadAllText("etc/resolv.conf") : null;
        bool hostCopy = current is not null && (current == (buildHostResolvConf ?? ZosRules.ReadBuildHostResolvConf()) || current.Contains("rootfsforge"));
        if (resolved && (current is null || hostCopy))
        {
            tree.CreateSymlink("etc/resolv.conf", "../run/systemd/resolve/stub-resolv.conf");
            log("resolv.conf -> ../run/systemd/resolve/stub-resolv.conf (systemd-resolved)");
        }
        else if (hostCopy)
        {
            tree.WriteAllText("etc/resolv.conf", "");
            log("resolv.conf: the build host's copy replaced by an empty file (DHCP/cloud-init fill it)");
        }
    }

    private static int TruncateLogs(StagingRoot tree, string dir, int depth)
    {
        if (depth > 16 || tree.Lstat(dir) is not { IsDirectory: true }) return 0;
        int n = 0;
        foreach (var name in tree.List(dir))
        {
            var path = dir + "/" + name;
            var st = tree.Lstat(path);
            if (st is { IsDirectory: true })
            {
                if (name == "journal") tree.DeleteContents(path);
                else n += TruncateLogs(tree, path, depth + 1);
            }
            else if (st is { IsRegular: true, Size: > 0 } s)
            {
                if (name.EndsWith(".gz") || name.EndsWith(".xz") || System.Text.RegularExpressions.Regex.IsMatch(name, @"\.\d+$"))
                    tree.Delete(path); // rotated logs
                else
                    tree.WriteFile(path, _ => { }, (uint)(s.Mode & 0xFFF), s.Uid, s.Gid);
                n++;
            }
        }
        return n;
    }
}
