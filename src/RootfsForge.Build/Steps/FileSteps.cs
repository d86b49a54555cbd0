using RootfsForge.IO;

namespace RootfsForge.Steps;

/// <summary>
/// <c>--copy</c>, <c>--run</c> and <c>--run-script</c>. Copies go through <see cref="StagingRoot"/>: symlinks in the
/// image resolve against the staging root as the chroot would see them, and a symlink never receives the content.
/// </summary>
internal static class FileSteps
{
    private const int MaxDepth = 256;

    /// <summary>Copies a host file or folder into the tree as <paramref name="spec"/> says; returns the number of entries written.</summary>
    public static int Copy(string root, CopySpec spec, Action<string>? log = null, CancellationToken cancellationToken = default)
    {
        using var tree = new StagingRoot(root);
        var source = Path.GetFullPath(spec.Source);
        var sourceInfo = new FileInfo(source);
        var isDir = Directory.Exists(source);
        if (!isDir && !sourceInfo.Exists) throw new FileNotFoundException($"--copy source {spec.Source} does not exist");
        var dest = StagingRoot.Normalize(spec.Destination);
        if (!isDir && (spec.Destination.EndsWith('/') || tree.Stat(dest) is { IsDirectory: true }))
            dest = dest.Length == 0 ? sourceInfo.Name : dest + "/" + sourceInfo.Name;
        if (dest.Length == 0 && !isDir) throw new ArgumentException("--copy: DST cannot be / for a file");
        int count = 0;
        if (isDir) CopyDirectory(tree, source, dest, spec, ref count, 0, log, cancellationToken);
        else CopyFile(tree, source, dest, spec, ref count);
        log?.Invoke($"copied {spec.Source} to /{dest} ({count} entries)");
        return count;
    }

    /// <summary>Runs a shell command (<c>sh -c</c>) in the chroot.</summary>
    public static Task RunCommandAsync(ChrootSession session, string command, CancellationToken cancellationToken) =>
        session.RunShellAsync(command, "[run] ", cancellationToken);

    /// <summary>Copies a host script into the tree's /tmp, runs it in the chroot, and removes it again (also on failure).</summary>
    public static async Task RunScriptAsync(ChrootSession session, string scriptPath, CancellationToken cancellationToken)
    {
        var name = $"tmp/rootfsforge-script-{Guid.NewGuid():N}";
        using (var tree = new StagingRoot(session.Root))
        {
            tree.CreateDirectory("tmp", 0x3FF); // 1777
            using var input = File.OpenRead(scriptPath);
            tree.WriteFile(name, s => input.CopyTo(s), 0x1C0);
        }
        try
        {
            // Through sh unless the script has its own interpreter line.
            bool shebang = File.ReadAllBytes(scriptPath).AsSpan().StartsWith("#!"u8);
            await session.RunAsync(shebang ? ["/" + name] : ["/bin/sh", "/" + name], $"[{Path.GetFileName(scriptPath)}] ",
                cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            using var tree = new StagingRoot(session.Root);
            tree.Delete(name);
        }
    }

    private static void CopyFile(StagingRoot tree, string source, string dest, CopySpec spec, ref int count)
    {
        var mode = spec.Mode ?? HostMode(source);
        using var input = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        tree.WriteFile(dest, s => input.CopyTo(s), (uint)mode, spec.Uid, spec.Gid);
        count++;
    }

    private static void CopyDirectory(StagingRoot tree, string source, string dest, CopySpec spec, ref int count, int depth,
        Action<string>? log, CancellationToken cancellationToken)
    {
        if (depth > MaxDepth) throw new IOException($"--copy: {source} is nested too deeply");
        cancellationToken.ThrowIfCancellationRequested();
        int dirMode = spec.Mode is int m ? m | ((m & 0x124) >> 2) : HostMode(source);
        if (dest.Length > 0) tree.CreateDirectory(dest, (uint)dirMode, spec.Uid, spec.Gid);
        count++;
        foreach (var entry in new DirectoryInfo(source).EnumerateFileSystemInfos().OrderBy(e => e.Name, StringComparer.Ordinal))
        {
            var target = dest.Length == 0 ? entry.Name : dest + "/" + entry.Name;
            if (entry.LinkTarget is { } link)
            {
                tree.CreateSymlink(target, link);
                tree.SetOwnerAndMode(target, null, spec.Uid, spec.Gid);
                count++;
            }
            else if (entry is DirectoryInfo)
                CopyDirectory(tree, entry.FullName, target, spec, ref count, depth + 1, log, cancellationToken);
            else if (entry is FileInfo f && (File.GetAttributes(f.FullName) & FileAttributes.Device) == 0 && IsRegular(f.FullName))
                CopyFile(tree, f.FullName, target, spec, ref count);
            else
                log?.Invoke($"--copy: skipped {entry.FullName} (not a file, folder or symlink)");
        }
    }

    private static int HostMode(string path) => (Posix.StatAt(null, path)?.Mode ?? 0x1A4) & 0xFFF;

    private static bool IsRegular(string path) => Posix.StatAt(null, path) is { IsRegular: true };
}
