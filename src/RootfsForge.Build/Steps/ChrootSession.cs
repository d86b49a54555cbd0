using RootfsForge.IO;
using RootfsForge.Processes;

namespace RootfsForge.Steps;

/// <summary>
/// Prepares a staging root for running commands in it with <c>chroot</c> (docs/zos-vm.md §6 step 2): mounts /proc, /sys, a
/// fresh /dev (tmpfs with the minimal nodes), /dev/pts, /dev/shm and /run; installs a temporary /etc/resolv.conf and a
/// policy-rc.d that stops services from starting. <see cref="DisposeAsync"/> always undoes all of it: it kills every
/// process still running inside the root, unmounts everything below it (lazily as the last resort) and restores the files.
/// </summary>
/// <remarks>
/// Mount points are opened with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS) and mounted through their
/// /proc/self/fd path, so a symlinked <c>/proc</c> or <c>/dev</c> in a hostile image is refused rather than followed.
/// Internal, not a library feature: it is safe only on a private staging root that <see cref="Vm.VmBuild"/> creates and
/// removes, and it kills every process whose root lies inside that root.
/// </remarks>
internal sealed class ChrootSession : IAsyncDisposable
{
    private const string SavedSuffix = ".rootfsforge-saved";
    private const string ResolvConf = "etc/resolv.conf";
    private const string PolicyRcD = "usr/sbin/policy-rc.d";

    /// <summary>The environment every command in the chroot gets (docs/zos-vm.md §6 step 2): nothing of the host's leaks in.</summary>
    private static readonly Dictionary<string, string> ChrootEnvironment = new(StringComparer.Ordinal)
    {
        ["PATH"] = ProcessSpec.SystemPath,
        ["HOME"] = "/root",
        ["LANG"] = "C.UTF-8",
        ["LC_ALL"] = "C.UTF-8",
        ["DEBIAN_FRONTEND"] = "noninteractive",
        ["DEBCONF_NONINTERACTIVE_SEEN"] = "true",
        ["TERM"] = "dumb",
    };

    // (path in the tree, fstype, flags, data), mounted in this order and unmounted in reverse.
    private static readonly (string Path, string Type, ulong Flags, string? Data)[] Mounts =
    [
        ("proc", "proc", Posix.MS_NOSUID | Posix.MS_NODEV | Posix.MS_NOEXEC, null),
        ("sys", "sysfs", Posix.MS_NOSUID | Posix.MS_NODEV | Posix.MS_NOEXEC | Posix.MS_RDONLY, null),
        ("dev", "tmpfs", Posix.MS_NOSUID | Posix.MS_NOEXEC, "mode=0755,size=4m"),
        ("dev/pts", "devpts", Posix.MS_NOSUID | Posix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5"),
        ("dev/shm", "tmpfs", Posix.MS_NOSUID | Posix.MS_NODEV, "mode=1777,size=64m"),
        ("run", "tmpfs", Posix.MS_NOSUID | Posix.MS_NODEV, "mode=0755,size=64m"),
    ];

    private readonly StagingRoot _tree;
    private readonly ChrootOptions _options;
    private readonly List<string> _restoreFiles = []; // tree paths we replaced (saved under path + SavedSuffix)
    private readonly List<string> _createdFiles = []; // tree paths we created (removed at the end)
    private bool _disposed;

    private ChrootSession(StagingRoot tree, ChrootOptions options)
    {
        _tree = tree;
        _options = options;
    }

    /// <summary>The staging root.</summary>
    public string Root => _tree.Path;

    /// <summary>
    /// Checks that <paramref name="root"/> is a private directory owned by root that nothing is mounted on or below,
    /// then mounts the pseudo filesystems and installs the temporary files. On any failure everything is undone.
    /// </summary>
    public static async Task<ChrootSession> EnterAsync(string root, ChrootOptions? options = null)
    {
        options ??= new ChrootOptions();
        if (Posix.EffectiveUserId != 0) throw new InvalidOperationException("the chroot steps need root");
        CheckFreshRoot(root);
        var session = new ChrootSession(new StagingRoot(root), options);
        try
        {
            session.MountAll();
            session.InstallResolvConf();
            if (options.BlockServiceStarts && session._tree.Exists("var/lib/dpkg")) session.InstallPolicyRcD();
            return session;
        }
        catch
        {
            await session.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Refuses a staging root that is not a real directory owned by root, is writable by others, or has mounts.</summary>
    public static void CheckFreshRoot(string root)
    {
        var full = Path.GetFullPath(root).TrimEnd('/');
        if (full.Length == 0) throw new InvalidOperationException("refusing to use / as a staging root");
        var st = Posix.StatAt(null, full) ?? throw new DirectoryNotFoundException($"staging root {full} does not exist");
        if (!st.IsDirectory) throw new InvalidOperationException($"staging root {full} is not a directory (or is a symlink)");
        if (st.Uid != 0) throw new InvalidOperationException($"staging root {full} is owned by uid {st.Uid}, not root");
        if ((st.Mode & 0x12) != 0) throw new InvalidOperationException($"staging root {full} is writable by group or others");
        if (st.IsMountRoot) throw new InvalidOperationException($"staging root {full} is a mount point");
        var mounts = MountTable.MountsUnder(full);
        if (mounts.Count > 0)
            throw new InvalidOperationException($"staging root {full} already has mounts below it: {string.Join(", ", mounts)}");
    }

    /// <summary>Runs <c>sh -c <paramref name="command"/></c> in the chroot; throws <see cref="ProcessFailedException"/> on failure.</summary>
    public Task RunShellAsync(string command, string prefix, CancellationToken cancellationToken) =>
        RunAsync(["/bin/sh", "-c", command], prefix, cancellationToken);

    /// <summary>
    /// Runs a program inside the chroot with a clean environment (PATH, HOME=/root, LANG=C.UTF-8,
    /// DEBIAN_FRONTEND=noninteractive, plus <paramref name="environment"/>), in its own session, stdin empty, streaming
    /// every output line behind <paramref name="prefix"/>. Cancelling stops its whole process group and kills every
    /// process left inside the root. A non-zero exit throws <see cref="ProcessFailedException"/>.
    /// </summary>
    public async Task RunAsync(IReadOnlyList<string> argv, string prefix, CancellationToken cancellationToken,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        await RunCoreAsync(argv, prefix, throwOnFailure: true, environment, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Like <see cref="RunAsync"/> but returns the exit code instead of throwing on failure.</summary>
    public Task<int> RunUncheckedAsync(IReadOnlyList<string> argv, string prefix, CancellationToken cancellationToken,
        IReadOnlyDictionary<string, string>? environment = null) =>
        RunCoreAsync(argv, prefix, throwOnFailure: false, environment, cancellationToken);

    private async Task<int> RunCoreAsync(IReadOnlyList<string> argv, string prefix, bool throwOnFailure,
        IReadOnlyDictionary<string, string>? environment, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var env = new Dictionary<string, string>(ChrootEnvironment, StringComparer.Ordinal);
        if (_options.Environment is not null)
            foreach (var (k, v) in _options.Environment) env[k] = v;
        if (environment is not null)
            foreach (var (k, v) in environment) env[k] = v;
        var output = _options.Output is { } sink ? ProcessOutput.Lines(sink, prefix) : ProcessOutput.Discard;
        _options.Log?.Invoke($"{prefix}$ {string.Join(' ', argv)}");
        try
        {
            var result = await ProcessRunner.RunAsync(new ProcessSpec("chroot", [_tree.Path, .. argv])
            {
                Environment = env,
                Output = output,
                ThrowOnFailure = throwOnFailure,
            }, cancellationToken).ConfigureAwait(false);
            return result.ExitCode;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Daemons the command started in another process group are still inside the root.
            await KillProcessesInRootAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Kills what still runs inside the root, unmounts everything below it, restores the replaced files.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        var problems = new List<string>();
        try { await KillProcessesInRootAsync().ConfigureAwait(false); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { problems.Add(e.Message); }
        await UnmountAllAsync(problems).ConfigureAwait(false);
        foreach (var path in _createdFiles)
            try { _tree.Delete(path); } catch (IOException e) { problems.Add($"removing /{path}: {e.Message}"); }
        foreach (var path in _restoreFiles)
            try
            {
                _tree.Delete(path);
                _tree.Rename(path + SavedSuffix, path);
            }
            catch (IOException e) { problems.Add($"restoring /{path}: {e.Message}"); }
        _tree.Dispose();
        foreach (var p in problems) _options.Log?.Invoke("chroot cleanup: " + p);
        var left = MountTable.MountsUnder(Root);
        if (left.Count > 0)
            throw new IOException($"could not unmount everything below {Root}: {string.Join(", ", left)}");
    }

    private void MountAll()
    {
        foreach (var (path, type, flags, data) in Mounts)
        {
            using var target = OpenOrCreateMountPoint(path);
            _options.Log?.Invoke($"mount {type} on /{path}");
            Posix.Mount(type, Posix.FdPath(target), type, flags, data);
            // Keep our mounts out of any shared peer group so nothing propagates to or from the host.
            Posix.Mount(null, Path.Combine(_tree.Path, path), null, Posix.MS_PRIVATE, null);
            if (path == "dev") PopulateDev();
        }
    }

    private Microsoft.Win32.SafeHandles.SafeFileHandle OpenOrCreateMountPoint(string path)
    {
        try
        {
            return _tree.OpenMountPoint(path);
        }
        catch (IOException e) when (Posix.Errno(e) == Posix.ENOENT)
        {
            var (parent, name) = StagingRoot.Split(path);
            using (var p = _tree.OpenMountPoint(parent)) Posix.MkdirAt(p, name, 0x1ED);
            return _tree.OpenMountPoint(path);
        }
        catch (IOException e) when (Posix.Errno(e) is Posix.ELOOP or Posix.ENOTDIR)
        {
            throw new InvalidOperationException(
                $"refusing to mount on /{path} in {_tree.Path}: it is a symlink or not a directory in the image", e);
        }
    }

    private void PopulateDev()
    {
        using var dev = _tree.OpenMountPoint("dev");
        foreach (var (name, major, minor) in new[] { ("null", 1u, 3u), ("zero", 1u, 5u), ("full", 1u, 7u),
                     ("random", 1u, 8u), ("urandom", 1u, 9u), ("tty", 5u, 0u) })
        {
            Posix.MknodAt(dev, name, (uint)RootfsForge.Tree.FileTypeBits.Character | 0x1B6, major, minor);
            // mknod applies the umask (022 leaves 0644): set 0666 explicitly, or apt's unprivileged _apt user cannot
            // write /dev/null and apt-get update fails with "gpgv ... required" (seen with an mmdebstrap tree).
            Posix.ChmodAt(dev, System.Text.Encoding.UTF8.GetBytes(name), 0x1B6, "/dev/" + name);
        }
        foreach (var dir in new[] { "pts", "shm" }) Posix.MkdirAt(dev, dir, 0x1ED);
        foreach (var (name, target) in new[] { ("ptmx", "pts/ptmx"), ("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                     ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2") })
            Posix.SymlinkAt(target, dev, name);
    }

    private void InstallResolvConf()
    {
        var content = HostResolvConf(_options.ResolvConf);
        ReplaceFile(ResolvConf, content, 0x1A4);
    }

    private void InstallPolicyRcD() => ReplaceFile(PolicyRcD, "#!/bin/sh\n# rootfsforge: no service starts while building\nexit 101\n", 0x1ED);

    /// <summary>Installs a temporary file, saving (by rename, never following it) whatever entry the image had there.</summary>
    private void ReplaceFile(string path, string content, uint mode)
    {
        if (_tree.Exists(path + SavedSuffix))
        {
            // A previous run died before restoring: the saved entry is the image's original; keep it.
            _restoreFiles.Add(path);
        }
        else if (_tree.Lstat(path) is { } st)
        {
            if (st.IsDirectory) throw new InvalidOperationException($"/{path} is a directory in the image");
            _tree.Rename(path, path + SavedSuffix);
            _restoreFiles.Add(path);
        }
        else
        {
            _createdFiles.Add(path);
        }
        _tree.WriteAllText(path, content, mode);
    }

    private static string HostResolvConf(string? path)
    {
        string? text = null;
        foreach (var candidate in path is null ? new[] { "/etc/resolv.conf", "/run/systemd/resolve/resolv.conf" } : [path])
        {
            if (!File.Exists(candidate)) continue;
            var t = File.ReadAllText(candidate);
            // systemd-resolved's stub (127.0.0.53) is unreachable from a chroot without the host's resolved: try the upstream list.
            if (path is null && t.Contains("127.0.0.53") && !t.Split('\n').Any(l => l.StartsWith("nameserver") && !l.Contains("127.0.0.53")))
            {
                text ??= t;
                continue;
            }
            return t;
        }
        return text ?? "nameserver 1.1.1.1\nnameserver 8.8.8.8\n";
    }

    private async Task UnmountAllAsync(List<string> problems)
    {
        for (int attempt = 0; attempt < 5; attempt++)
        {
            var mounts = MountTable.MountsUnder(Root).Where(m => m != Root.TrimEnd('/')).ToList();
            if (mounts.Count == 0) return;
            foreach (var m in mounts)
            {
                int errno = Posix.Umount(m, attempt < 3 ? 0 : Posix.MNT_DETACH);
                if (errno == 0) _options.Log?.Invoke($"unmounted {m}{(attempt < 3 ? "" : " (lazily)")}");
                else if (errno == Posix.EBUSY) await KillProcessesInRootAsync().ConfigureAwait(false);
            }
            if (attempt >= 1) await Task.Delay(200).ConfigureAwait(false);
        }
        var left = MountTable.MountsUnder(Root);
        if (left.Count > 0) problems.Add("still mounted: " + string.Join(", ", left));
    }

    /// <summary>SIGKILLs every process whose root directory is the staging root or below it (daemons that slipped out).</summary>
    private async Task KillProcessesInRootAsync()
    {
        var root = Root.TrimEnd('/');
        for (int round = 0; round < 10; round++)
        {
            int killed = 0;
            foreach (var dir in Directory.EnumerateDirectories("/proc"))
            {
                if (!int.TryParse(Path.GetFileName(dir), out int pid) || pid == Environment.ProcessId) continue;
                string? procRoot;
                try { procRoot = Posix.ReadLinkAt(null, $"/proc/{pid}/root"); }
                catch (IOException) { continue; }
                if (procRoot == root || procRoot.StartsWith(root + "/", StringComparison.Ordinal))
                {
                    Posix.Kill(pid, 9);
                    killed++;
                }
            }
            if (killed == 0) return;
            _options.Log?.Invoke($"killed {killed} process(es) left inside {root}");
            await Task.Delay(200).ConfigureAwait(false);
        }
    }
}
