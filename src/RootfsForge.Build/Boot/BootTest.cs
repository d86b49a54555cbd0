using System.Diagnostics;
using RootfsForge.IO;
using RootfsForge.Lint;
using RootfsForge.Steps;

namespace RootfsForge.Boot;

/// <summary>
/// Boots a VM flist tree the way ZOS does (zos-vm.md §8.1): its own /boot/vmlinuz and /boot/initrd.img, the root over
/// virtio-fs tag <c>vroot</c> served by virtiofsd, ZOS's kernel command line, and a FAT <c>cidata</c> NoCloud disk shaped
/// like ZOS's (§5), under <c>qemu-system-x86_64 -accel tcg</c>. The guest writes into an overlay, never into the tree.
/// Every process it starts is stopped when it returns (success, failure, timeout or cancellation).
/// </summary>
public static class BootTest
{
    /// <summary>ZOS's kernel command line (§3) without init= (full VMs are deployed with an empty entrypoint).</summary>
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
    public static BootResult Run(string tree, BootTestOptions? options = null, CancellationToken cancellationToken = default)
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
        foreach (var tool in new[] { "qemu-system-x86_64", "mkfs.vfat", "mcopy" })
            if (FindTool(tool) is null) throw new InvalidOperationException($"boot test needs {tool} (Debian: qemu-system-x86, dosfstools, mtools)");
        if (!File.Exists(options.Virtiofsd)) throw new InvalidOperationException($"{options.Virtiofsd} not found (Debian: qemu-system-x86)");

        var work = Directory.CreateTempSubdirectory("rootfsforge-boot-").FullName;
        var log = Path.GetFullPath(options.ConsoleLog ?? Path.Combine(Path.GetTempPath(), $"rootfsforge-boot-{Path.GetFileName(work)}.log"));
        var merged = Path.Combine(work, "merged");
        bool overlayMounted = false;
        Process? virtiofsd = null, qemu = null;
        try
        {
            // The guest writes (machine-id, keys, logs): give it an overlay so the tree stays as built.
            foreach (var d in new[] { "upper", "work", "merged" }) Directory.CreateDirectory(Path.Combine(work, d));
            Posix.Mount("overlay", merged, "overlay", 0,
                $"lowerdir={tree},upperdir={Path.Combine(work, "upper")},workdir={Path.Combine(work, "work")}");
            overlayMounted = true;

            var cidata = MakeCidata(work, options.SshPublicKey ?? MakeSshKey(work), cancellationToken);
            var socket = Path.Combine(work, "vfs.sock");
            virtiofsd = Start(options.Virtiofsd, IsRustVirtiofsd(options.Virtiofsd)
                ? [$"--socket-path={socket}", $"--shared-dir={merged}", "--cache=never", "--sandbox=chroot"]
                : [$"--socket-path={socket}", "-o", $"source={merged}", "-o", "cache=none", "-o", "sandbox=chroot"],
                Path.Combine(work, "virtiofsd.log"));
            for (int i = 0; i < 100 && !File.Exists(socket); i++)
            {
                if (virtiofsd.HasExited) throw new InvalidOperationException($"virtiofsd exited: {File.ReadAllText(Path.Combine(work, "virtiofsd.log"))}");
                Thread.Sleep(100);
            }
            if (!File.Exists(socket)) throw new InvalidOperationException("virtiofsd did not create its socket");

            File.WriteAllText(log, "");
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
            progress($"boot: qemu-system-x86_64 {string.Join(' ', args)}");
            var sw = Stopwatch.StartNew();
            qemu = Start(FindTool("qemu-system-x86_64")!, args, Path.Combine(work, "qemu.log"));
            return Watch(qemu, log, options.Timeout, sw, progress, cancellationToken);
        }
        finally
        {
            Stop(qemu);
            Stop(virtiofsd);
            if (overlayMounted && Posix.Umount(merged, 0) != 0) Posix.Umount(merged, Posix.MNT_DETACH);
            progress($"boot: console log saved to {log}");
            if (MountTable.MountsUnder(work).Count == 0) Directory.Delete(work, recursive: true);
        }
    }

    private static BootResult Watch(Process qemu, string log, TimeSpan timeout, Stopwatch sw, Action<string> progress, CancellationToken ct)
    {
        long offset = 0;
        var pending = "";
        var savedLog = log;
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            using (var s = new FileStream(log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
            {
                s.Position = offset;
                using var reader = new StreamReader(s);
                var text = reader.ReadToEnd();
                offset = s.Position;
                pending += text;
            }
            var lines = pending.Split('\n');
            pending = lines[^1];
            foreach (var raw in lines[..^1].Append(pending))
            {
                var line = raw.TrimEnd('\r');
                if (line.Contains(Marker) && !line.Contains("echo")) return new BootResult(true, $"cloud-init marker: {line.Trim()}", sw.Elapsed, savedLog);
                if (line.TrimEnd().EndsWith("login:", StringComparison.Ordinal)) return new BootResult(true, $"login prompt: {line.Trim()}", sw.Elapsed, savedLog);
                if (FailurePatterns.FirstOrDefault(line.Contains) is { } p) return new BootResult(false, $"'{p}' on the console: {line.Trim()}", sw.Elapsed, savedLog);
            }
            if (qemu.HasExited) return new BootResult(false, $"qemu exited ({qemu.ExitCode}) before a login prompt (reboot/panic?)", sw.Elapsed, savedLog);
            if (sw.Elapsed > timeout) return new BootResult(false, $"no login prompt within {timeout.TotalSeconds:F0} s", sw.Elapsed, savedLog);
            if ((int)sw.Elapsed.TotalSeconds % 30 == 0) progress($"boot: {sw.Elapsed.TotalSeconds:F0} s, {offset} bytes of console output");
            Thread.Sleep(1000);
        }
    }

    private static string MakeCidata(string work, string sshKey, CancellationToken ct)
    {
        var dir = Path.Combine(work, "cidata");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "meta-data"), $"instance-id: rootfsforge-boot-{Guid.NewGuid():N}\nlocal-hostname: rootfsforge-boot\n");
        // netplan v2 like ZOS's: interface named eth0 but matched by MAC; qemu's user network 10.0.2.0/24.
        File.WriteAllText(Path.Combine(dir, "network-config"), $"""
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

            """);
        File.WriteAllText(Path.Combine(dir, "user-data"), $"""
            #cloud-config
            users:
              - name: root
                ssh_authorized_keys:
                  - {sshKey.Trim()}
            runcmd:
              - [ sh, -c, "echo {Marker[..9]}''{Marker[9..]} > /dev/console" ]

            """);
        var img = Path.Combine(work, "cidata.img");
        Vm.HostTool.Run(FindTool("mkfs.vfat")!, ["-n", "cidata", "-C", img, "2048"], ct);
        Vm.HostTool.Run(FindTool("mcopy")!, ["-i", img, Path.Combine(dir, "meta-data"), Path.Combine(dir, "network-config"),
            Path.Combine(dir, "user-data"), "::"], ct);
        return img;
    }

    private static string MakeSshKey(string work)
    {
        var keygen = FindTool("ssh-keygen");
        if (keygen is null) return "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBootTestKeyWithoutPrivatePartxxxxxxxxxxxxxxx rootfsforge-boot";
        var key = Path.Combine(work, "id_ed25519");
        Vm.HostTool.Run(keygen, ["-q", "-t", "ed25519", "-N", "", "-C", "rootfsforge-boot", "-f", key], CancellationToken.None);
        return File.ReadAllText(key + ".pub");
    }

    private static bool IsRustVirtiofsd(string path)
    {
        var p = Process.Start(new ProcessStartInfo(path, "--help") { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var text = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        return text.Contains("--shared-dir");
    }

    private static Process Start(string file, IEnumerable<string> args, string logFile)
    {
        var psi = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        var writer = TextWriter.Synchronized(new StreamWriter(logFile) { AutoFlush = true });
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) writer.WriteLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) writer.WriteLine(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    private static void Stop(Process? p)
    {
        if (p is null) return;
        try
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
            p.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
        }
        p.Dispose();
    }

    private static string? FindTool(string name)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(["/usr/sbin", "/usr/bin", "/sbin", "/bin"]))
        {
            if (dir.Length == 0) continue;
            var p = Path.Combine(dir, name);
            if (File.Exists(p)) return p;
        }
        return null;
    }
}
