namespace RootfsForge.Vm;

/// <summary>
/// Ready-made input and output delegates for <see cref="VmBuild.Run"/>.
/// </summary>
public static class VmInputs
{
    /// <summary>
    /// The extraction for an input path: a directory (copied with <c>cp -a</c>) or a tar archive, optionally
    /// gzip/xz/zstd-compressed (extracted by GNU tar as root with numeric owners and xattrs).
    /// Disk images (qcow2/raw) need the in-process image reader.
    /// </summary>
    public static Action<string, CancellationToken> ExtractFrom(string input)
    {
        var full = Path.GetFullPath(input);
        if (Directory.Exists(full))
            return (root, ct) => HostTool.Run("cp", ["-a", "--one-file-system", "--", full + "/.", root], ct);
        if (!File.Exists(full)) throw new FileNotFoundException($"input {input} does not exist");
        if (IsTar(full))
            return (root, ct) => HostTool.Run("tar", ["--numeric-owner", "--xattrs", "--xattrs-include=*", "--acls",
                "-xpf", full, "-C", root], ct);
        throw new UnsupportedImageException(
            $"{input}: disk images (qcow2/raw) need the in-process image reader, which this build does not include yet; pass a directory or a tar");
    }

    /// <summary>
    /// The output writer for a path: <c>*.tar</c>, <c>*.tar.gz</c>/<c>*.tgz</c>, <c>*.tar.zst</c> (written under a
    /// temporary name and renamed into place), else a new directory.
    /// </summary>
    public static Action<string, CancellationToken> WriteTo(string output)
    {
        var full = Path.GetFullPath(output);
        return (root, ct) =>
        {
            var temp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.rootfsforge-{Guid.NewGuid():N}.tmp");
            try
            {
                if (IsTar(full))
                {
                    string[] compress = full.EndsWith(".zst", StringComparison.OrdinalIgnoreCase) ? ["-I", "zstd -T0 -q"]
                        : full.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) || full.EndsWith(".tgz", StringComparison.OrdinalIgnoreCase) ? ["-z"]
                        : [];
                    HostTool.Run("tar", [.. compress, "--numeric-owner", "--xattrs", "--xattrs-include=*", "--acls",
                        "--sort=name", "-cf", temp, "-C", root, "."], ct);
                    File.Move(temp, full, overwrite: true);
                }
                else
                {
                    if (Directory.Exists(full)) throw new IOException($"output directory {full} already exists");
                    Directory.CreateDirectory(temp);
                    HostTool.Run("cp", ["-a", "--one-file-system", "--", root + "/.", temp], ct);
                    Directory.Move(temp, full);
                }
            }
            catch
            {
                if (File.Exists(temp)) File.Delete(temp);
                if (Directory.Exists(temp)) HostTool.Run("rm", ["-rf", "--one-file-system", temp], CancellationToken.None);
                throw;
            }
        };
    }

    /// <summary>The default output name for an input: <c>&lt;image-name&gt;.tar.zst</c> in the current directory.</summary>
    public static string DefaultOutput(string input)
    {
        var name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(input)));
        foreach (var ext in new[] { ".tar.zst", ".tar.gz", ".tgz", ".tar.xz", ".tar", ".qcow2", ".img", ".raw" })
            if (name.EndsWith(ext, StringComparison.OrdinalIgnoreCase)) { name = name[..^ext.Length]; break; }
        return Path.Combine(Environment.CurrentDirectory, name + ".tar.zst");
    }

    private static bool IsTar(string path) =>
        new[] { ".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.xz" }.Any(e => path.EndsWith(e, StringComparison.OrdinalIgnoreCase));
}
