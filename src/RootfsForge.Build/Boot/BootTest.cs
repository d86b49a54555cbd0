using System.Diagnostics;
using RootfsForge.IO;
using RootfsForge.Lint;
using RootfsForge.Processes;
using RootfsForge.Steps;

namespace RootfsForge.Boot;

/// <summary>
/// Boots a VM flist tree the way ZOS does (docs/zos-vm.md §8.1): its own /boot/vmlinuz and /boot/initrd.img, the root
/// over virtio-fs tag <c>vroot</c> served by virtiofsd, ZOS's kernel command line, and a FAT <c>cidata</c> NoCloud disk
/// shaped like ZOS's (docs/zos-vm.md §5), under <c>qemu-system-x86_64 -accel tcg</c>. The guest writes into an overlay,
/// never into the tree. Every process it starts is stopped when it returns (success, failure, timeout or cancellation).
/// </summary>
public static class BootTest
{
    /// <summary>
    /// ZOS's kernel command line (docs/zos-vm.md §3) without init= (full VMs are deployed with an empty entrypoint).
    /// </summary>
    public const string KernelCommandLine = "rw console=ttyS0 reboot=k panic=1 root=vroot rootfstype=virtiofs rootdelay=30";

    /// <summary>The line cloud-init's runcmd writes to the console when user-data was applied.</summary>
    public const string Marker = "ROOTFSFORGE-BOOT-OK";

    private const string Mac = "52:54:00:12:34:56";
    private static readonly string[] FailurePatterns =
    [
        "Kernel panic", "virtio-fs: tag <vroot> not found", "You are in emergency mode", "Give root password for maintenance",
        "Unable to mount root fs", "ALERT!", "(initramfs)",
    ];

    /// <summary>Boots <paramref name="tree"/> (a directory) and waits for a login prompt or the cloud-init marker.</summary>
    /// <exception cref="InvalidOperationException">The tree has no bootable /boot/vmlinuz or /boot/initrd.img, or a host tool is missing.</exception>
    public static async Task<BootResult> RunAsync(string tree, BootTestOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new BootTestOptions();
        var progress = options.Progress ?? (_ => { });
        tree = Path.GetFullPath(tree);
        string kernel, initrd;
        using (var lintTree = new DirectoryLintTree(tree))
        {
            kernel = Linter.CheckBootPath(lintTree, "boot/vmlinuz", out var why) ?? throw new InvalidOperationException(why);
            initrd = Linter.CheckBootPath(lintTree, "boot/initrd.img", out why) ?? throw new InvalidOperationException(why);
        }
        var qemuPath = RequireTool("qemu-system-x86_64", "qemu-system-x86");
        RequireTool("mkfs.vfat", "dosfstools");
        RequireTool("mcopy", "mtools");
        if (!File.Exists(options.Virtiofsd)) throw new InvalidOperationException($"{options.Virtiofsd} not found (Debian: qemu-system-x86)");

        var work = Directory.CreateTempSubdirectory("rootfsforge-boot-").FullName;
        var log = Path.GetFullPath(options.ConsoleLog ?? Path.Combine(Path.GetTempPath(), $"rootfsforge-boot-{Path.GetFileName(work)}.log"));
        var merged = Path.Combine(work, "merged");
        bool overlayMounted = false;
        RunningProcess? virtiofsd = null, qemu = null;
        try
        {
            // The guest writes (machine-id, keys, logs): give it an overlay so the tree stays as built.
            foreach (var d in new[] { "upper", "work", "merged" }) Directory.CreateDirectory(Path.Combine(work, d));
            Posix.Mount("overlay", merged, "overlay", 0,
                $"lowerdir={tree},upperdir={Path.Combine(work, "upper")},workdir={Path.Combine(work, "work")}");
            overlayMounted = true;

            var sshKey = options.SshPublicKey ?? await MakeSshKeyAsync(work, cancellationToken).ConfigureAwait(false);
            var cidata = await MakeCidataAsync(work, sshKey, cancellationToken).ConfigureAwait(false);
            var socket = Path.Combine(work, "vfs.sock");
            var virtiofsdLog = Path.Combine(work, "virtiofsd.log");
            virtiofsd = ProcessRunner.Start(new ProcessSpec(options.Virtiofsd,
                await IsRustVirtiofsdAsync(options.Virtiofsd, cancellationToken).ConfigureAwait(false)
                    ? [$"--socket-path={socket}", $"--shared-dir={merged}", "--cache=never", "--sandbox=chroot"]
                    : [$"--socket-path={socket}", "-o", $"source={merged}", "-o", "cache=none", "-o", "sandbox=chroot"])
            {
                Output = ProcessOutput.LogFile(virtiofsdLog),
            });
            for (int i = 0; i < 100 && !File.Exists(socket); i++)
            {
                if (virtiofsd.HasExited) throw new InvalidOperationException($"virtiofsd exited: {await File.ReadAllTextAsync(virtiofsdLog, cancellationToken).ConfigureAwait(false)}");
                await Task.Delay(100, cancellationToken).ConfigureAwait(false);
            }
            if (!File.Exists(socket)) throw new InvalidOperationException("virtiofsd did not create its socket");

            await File.WriteAllTextAsync(log, "", cancellationToken).ConfigureAwait(false);
            var mem = $"{options.MemoryMiB}M";
            var args = new List<string>
            {
                "-nodefaults", "-accel", "tcg", "-m", mem, "-smp", "1", "-no-reboot",
                "-object", $"memory-backend-memfd,id=mem,size={mem},share=on", "-numa", "node,memdev=mem",
                "-chardev", $"socket,id=char0,path={socket}", "-device", "vhost-user-fs-pci,chardev=char0,tag=vroot",
                "-kernel", Path.Combine(tree, kernel), "-initrd", Path.Combine(tree, initrd), "-append", KernelCommandLine,
                "-drive", $"file={cidata},if=virtio,format=raw,readonly=on",
                "-nic", $"user,model=virtio-net-pci,mac={Mac}",
                "-display", "none", "-monitor", "none", "-serial", $"file:{log}",
            };
            var qemuSpec = new ProcessSpec(qemuPath, args) { Output = ProcessOutput.LogFile(Path.Combine(work, "qemu.log")) };
            progress($"boot: {qemuSpec.CommandLine}");
            var sw = Stopwatch.StartNew();
            qemu = ProcessRunner.Start(qemuSpec);
            return await WatchAsync(qemu, log, options.Timeout, sw, progress, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (qemu is not null) await qemu.DisposeAsync().ConfigureAwait(false);
            if (virtiofsd is not null) await virtiofsd.DisposeAsync().ConfigureAwait(false);
            if (overlayMounted && Posix.Umount(merged, 0) != 0) Posix.Umount(merged, Posix.MNT_DETACH);
            progress($"boot: console log saved to {log}");
            if (MountTable.MountsUnder(work).Count == 0) Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>Follows the serial console log until a login prompt, the marker, a failure pattern, qemu's exit or the timeout.</summary>
    private static async Task<BootResult> WatchAsync(RunningProcess qemu, string log, TimeSpan timeout, Stopwatch sw,
        Action<string> progress, CancellationToken ct)
    {
        long offset = 0;
        var pending = "";
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            using (var s = new FileStream(log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
            {
                s.Position = offset;
                using var reader = new StreamReader(s);
                pending += await reader.ReadToEndAsync(ct).ConfigureAwait(false);
                offset = s.Position;
            }
            var lines = pending.Split('\n');
            pending = lines[^1];
            foreach (var raw in lines[..^1].Append(pending))
            {
                var line = raw.TrimEnd('\r');
                if (line.Contains(Marker) && !line.Contains("echo")) return new BootResult(true, $"cloud-init marker: {line.Trim()}", sw.Elapsed, log);
                if (line.TrimEnd().EndsWith("login:", StringComparison.Ordinal)) return new BootResult(true, $"login prompt: {line.Trim()}", sw.Elapsed, log);
                if (FailurePatterns.FirstOrDefault(line.Contains) is { } p) return new BootResult(false, $"'{p}' on the console: {line.Trim()}", sw.Elapsed, log);
            }
            if (qemu.HasExited) return new BootResult(false, $"qemu exited ({qemu.ExitCode}) before a login prompt (reboot/panic?)", sw.Elapsed, log);
            if (sw.Elapsed > timeout) return new BootResult(false, $"no login prompt within {timeout.TotalSeconds:F0} s", sw.Elapsed, log);
            if ((int)sw.Elapsed.TotalSeconds % 30 == 0) progress($"boot: {sw.Elapsed.TotalSeconds:F0} s, {offset} bytes of console output");
            await Task.Delay(1000, ct).ConfigureAwait(false);
        }
    }

    private static async Task<string> MakeCidataAsync(string work, string sshKey, CancellationToken ct)
    {
        var dir = Path.Combine(work, "cidata");
        Directory.CreateDirectory(dir);
        await File.WriteAllTextAsync(Path.Combine(dir, "meta-data"),
            $"instance-id: rootfsforge-boot-{Guid.NewGuid():N}\nlocal-hostname: rootfsforge-boot\n", ct).ConfigureAwait(false);
        // netplan v2 like ZOS's: interface named eth0 but matched by MAC; qemu's user network 10.0.2.0/24.
        await File.WriteAllTextAsync(Path.Combine(dir, "network-config"), $"""
            version: 2
            ethernets:
              eth0:
                match:
                  macaddress: "{Mac}"
                dhcp4: false
                addresses: [10.0.2.15/24]
                gateway4: 10.0.2.2
                nameservers:
                  addresses: [10.0.2.3]

            """, ct).ConfigureAwait(false);
        await File.WriteAllTextAsync(Path.Combine(dir, "user-data"), $"""
            #cloud-config
            users:
              - name: root
                ssh_authorized_keys:
                  - {sshKey.Trim()}
            runcmd:
              - [ sh, -c, "echo {Marker[..9]}''{Marker[9..]} > /dev/console" ]

            """, ct).ConfigureAwait(false);
        var img = Path.Combine(work, "cidata.img");
        await ProcessRunner.RunAsync(new ProcessSpec("mkfs.vfat", ["-n", "cidata", "-C", img, "2048"]), ct).ConfigureAwait(false);
        await ProcessRunner.RunAsync(new ProcessSpec("mcopy", ["-i", img, Path.Combine(dir, "meta-data"),
            Path.Combine(dir, "network-config"), Path.Combine(dir, "user-data"), "::"]), ct).ConfigureAwait(false);
        return img;
    }

    private static async Task<string> MakeSshKeyAsync(string work, CancellationToken ct)
    {
        if (ProcessRunner.TryFindProgram("ssh-keygen") is null)
            return "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBootTestKeyWithoutPrivatePartxxxxxxxxxxxxxxx rootfsforge-boot";
        var key = Path.Combine(work, "id_ed25519");
        await ProcessRunner.RunAsync(new ProcessSpec("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "rootfsforge-boot", "-f", key]), ct)
            .ConfigureAwait(false);
        return await File.ReadAllTextAsync(key + ".pub", ct).ConfigureAwait(false);
    }

    /// <summary>The Rust virtiofsd (Debian 12+) takes --shared-dir; the C one of older qemu takes -o source=.</summary>
    private static async Task<bool> IsRustVirtiofsdAsync(string path, CancellationToken ct)
    {
        var help = await ProcessRunner.RunAsync(new ProcessSpec(path, ["--help"]) { ThrowOnFailure = false }, ct).ConfigureAwait(false);
        return (help.StandardOutput + help.StandardError).Contains("--shared-dir");
    }

    private static string RequireTool(string name, string debianPackage) =>
        ProcessRunner.TryFindProgram(name)
        ?? throw new InvalidOperationException($"boot test needs {name} (Debian: {debianPackage})");
}
