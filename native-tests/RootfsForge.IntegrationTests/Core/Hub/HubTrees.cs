using RootfsForge.NativeTests.Flist;
using RootfsForge.NativeTests.Support;

namespace RootfsForge.NativeTests.Hub;

/// <summary>Source trees for hub uploads, and GNU tar as the oracle that two trees are the same.</summary>
internal static class HubTrees
{
    /// <summary>
    /// A tree with what a rootfs holds: files (one of 1.5 MB), an empty file, a set-uid program, a hard link, symlinks
    /// (one dangling), a non-ASCII name with a space, a private directory of another owner and, as root, a fifo and
    /// devices. Every time is 2020-09-13 12:26:40 UTC.
    /// </summary>
    public static string Make(string dir)
    {
        TestEnvironment.RequireRoot("owners and device nodes in the uploaded tree");
        var root = Path.Combine(dir, "src");
        Directory.CreateDirectory(Path.Combine(root, "etc"));
        Directory.CreateDirectory(Path.Combine(root, "usr", "bin"));
        Directory.CreateDirectory(Path.Combine(root, "opt", "private"));
        Directory.CreateDirectory(Path.Combine(root, "dir with space"));
        Directory.CreateDirectory(Path.Combine(root, "dev"));
        File.WriteAllText(Path.Combine(root, "etc", "hostname"), "forge\n");
        File.WriteAllText(Path.Combine(root, "etc", "motd"), "welcome to the hub\n");
        File.WriteAllBytes(Path.Combine(root, "usr", "bin", "tool"), TreeFixtures.Random(1_500_000, 3));
        File.WriteAllBytes(Path.Combine(root, "usr", "bin", "suid"), TreeFixtures.Random(4096, 4));
        File.WriteAllBytes(Path.Combine(root, "empty"), []);
        File.WriteAllText(Path.Combine(root, "dir with space", "ünïcode file.txt"), "ü\n");
        File.WriteAllText(Path.Combine(root, "opt", "private", "secret"), "42\n");
        File.CreateSymbolicLink(Path.Combine(root, "usr", "tool-link"), "bin/tool");
        File.CreateSymbolicLink(Path.Combine(root, "dangling"), "/nonexistent/target");
        TestEnvironment.RunChecked("ln", [Path.Combine(root, "usr", "bin", "tool"), Path.Combine(root, "usr", "bin", "tool2")]);
        TestEnvironment.RunChecked("chmod", ["755", Path.Combine(root, "usr", "bin", "tool")]);
        TestEnvironment.RunChecked("chmod", ["4755", Path.Combine(root, "usr", "bin", "suid")]);
        TestEnvironment.RunChecked("chmod", ["700", Path.Combine(root, "opt", "private")]);
        TestEnvironment.RunChecked("chmod", ["640", Path.Combine(root, "opt", "private", "secret")]);
        TestEnvironment.RunChecked("chown", ["-R", "1000:1000", Path.Combine(root, "opt", "private")]);
        TestEnvironment.RunChecked("chown", ["1234:5678", Path.Combine(root, "opt", "private", "secret")]);
        TestEnvironment.RunChecked("mkfifo", [Path.Combine(root, "dev", "fifo")]);
        TestEnvironment.RunChecked("mknod", [Path.Combine(root, "dev", "null"), "c", "1", "3"]);
        TestEnvironment.RunChecked("mknod", [Path.Combine(root, "dev", "loop0"), "b", "7", "0"]);
        ClampTimes(root);
        return root;
    }

    /// <summary>Sets every time under <paramref name="root"/> to a whole second (tar keeps whole seconds).</summary>
    public static void ClampTimes(string root) =>
        TestEnvironment.RunChecked("find", [root, "-depth", "-exec", "touch", "-h", "-d", "@1600000000", "{}", "+"]);

    /// <summary>A gzip tarball of <paramref name="root"/> made by GNU tar (relative names, numeric owners).</summary>
    public static string TarGz(string root, string path)
    {
        TestEnvironment.RequireTool("tar");
        TestEnvironment.RunChecked("tar", ["--numeric-owner", "--sort=name", "-czf", path, "-C", root, "."]);
        return path;
    }

    /// <summary>
    /// GNU tar's verbose listing of the tree under <paramref name="root"/> (type, mode, numeric owner, size or device,
    /// time to the second, link target; hard links as such) followed by the SHA-256 of every regular file, as GNU tar
    /// reads them. The top directory's own line and lost+found are left out (an ext4 image has one; the source not).
    /// </summary>
    public static string Listing(string root)
    {
        TestEnvironment.RequireTool("tar");
        var listing = TestEnvironment.RunChecked("tar", ["--numeric-owner", "--sort=name", "--full-time", "--exclude=./lost+found",
            "-C", root, "-cvvf", "/dev/null", "."]).Split('\n').Where(l => l.Length > 0 && !l.EndsWith(" ./", StringComparison.Ordinal));
        var (code, sums, err) = TestEnvironment.Run("sh", ["-c",
            "tar --numeric-owner --sort=name --exclude=./lost+found -C \"$1\" -cf - . | " +
            "tar -xf - --to-command='printf \"%s %s\\n\" \"$(sha256sum | cut -c1-64)\" \"$TAR_FILENAME\"'", "sh", root]);
        if (code != 0) throw new InvalidOperationException($"tar content listing of {root} failed: {err}");
        return string.Join('\n', listing) + "\n--\n" + sums.TrimEnd();
    }
}
