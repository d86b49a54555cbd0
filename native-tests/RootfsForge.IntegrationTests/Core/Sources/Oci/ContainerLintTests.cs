using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Oci;

/// <summary>
/// <c>rootfsforge lint</c> on container trees (docs/zos-vm.md §7, C1–C3): real directory trees with busybox, and GNU
/// tar archives of them, so both the directory reader (openat2, nothing followed outside) and the tree-source reader
/// are exercised. Where the host has a file the tree lacks (<c>/bin/true</c>), the check must look inside the tree.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ContainerLintTests : IDisposable
{
    private readonly string _dir = TestEnvironment.NewTempDir("rff-clint");

    public void Dispose() => Directory.Delete(_dir, true);

    /// <summary>A busybox tree: /bin/busybox, /bin/sh -> busybox, an entrypoint given as a /.startup.toml.</summary>
    private string Tree(string name, string? startup, Action<string>? more = null)
    {
        Skip.IfNot(File.Exists("/bin/busybox"), "needs /bin/busybox (Debian package busybox-static)");
        string root = Path.Combine(_dir, name);
        Directory.CreateDirectory(Path.Combine(root, "bin"));
        Directory.CreateDirectory(Path.Combine(root, "etc"));
        File.Copy("/bin/busybox", Path.Combine(root, "bin", "busybox"));
        File.SetUnixFileMode(Path.Combine(root, "bin", "busybox"), (UnixFileMode)0b111_101_101);
        File.CreateSymbolicLink(Path.Combine(root, "bin", "sh"), "busybox");
        if (startup is not null) File.WriteAllText(Path.Combine(root, ".startup.toml"), startup);
        more?.Invoke(root);
        return root;
    }

    private static string Startup(string program, string? path = null, string dir = "/") =>
        $"[startup.entry]\nname = \"core.system\"\n\n[startup.entry.args]\nargs = [\"-c\", \"echo \\\"hi\\\"\"]\ndir = \"{dir}\"\nname = \"{program}\"\n\n" +
        $"[startup.entry.args.env]\n{(path is null ? "" : $"PATH = \"{path}\"\n")}";

    /// <summary>Runs lint on the directory and on a GNU tar of it; both must agree. Returns exit code and stdout.</summary>
    private (int Code, string Out) Lint(string root, params string[] extra)
    {
        var dir = TestEnvironment.Run("dotnet", [TestEnvironment.CliDll, "lint", root, .. extra]);
        string tar = root + ".tar.gz";
        TestEnvironment.RunChecked("tar", ["--numeric-owner", "-czf", tar, "-C", root, "."]);
        var fromTar = TestEnvironment.Run("dotnet", [TestEnvironment.CliDll, "lint", tar, .. extra]);
        Assert.True(dir.ExitCode == fromTar.ExitCode, $"directory exit {dir.ExitCode}, tar exit {fromTar.ExitCode}\n{dir.StdOut}\n{fromTar.StdOut}");
        Assert.Equal(Lines(dir.StdOut, "C"), Lines(fromTar.StdOut, "C"));
        return (dir.ExitCode, dir.StdOut);
    }

    private static string[] Lines(string output, string prefix) =>
        output.Split('\n').Where(l => l.StartsWith(prefix, StringComparison.Ordinal)).ToArray();

    [SkippableFact]
    public void EntrypointThroughARelativeLink_Passes_ZinitIsOnlyAdvisory()
    {
        var (code, output) = Lint(Tree("ok", Startup("/bin/sh")));
        Assert.True(code == 0, output);
        Assert.Contains("C1   pass  no /boot/vmlinuz", output);
        Assert.Contains("C2   pass  entrypoint /bin/sh -> /bin/busybox (executable)", output);
        Assert.Contains("C3   warn  advisory: no executable /sbin/zinit", output);
        Assert.Contains("lint (container): passed", output);
    }

    [SkippableFact]
    public void BareNameFoundThroughThePathOfStartupToml_ZinitThroughAnAbsoluteLink()
    {
        var root = Tree("path", Startup("app", path: "/nothing:/opt/tools/bin"), r =>
        {
            Directory.CreateDirectory(Path.Combine(r, "opt", "real"));
            File.Copy("/bin/busybox", Path.Combine(r, "opt", "real", "app"));
            File.SetUnixFileMode(Path.Combine(r, "opt", "real", "app"), (UnixFileMode)0b111_101_101);
            File.CreateSymbolicLink(Path.Combine(r, "opt", "tools"), "/opt/real");          // absolute: from the tree's root
            Directory.CreateDirectory(Path.Combine(r, "opt", "real", "bin"));
            File.CreateSymbolicLink(Path.Combine(r, "opt", "real", "bin", "app"), "../app");
            Directory.CreateDirectory(Path.Combine(r, "sbin"));
            File.CreateSymbolicLink(Path.Combine(r, "sbin", "zinit"), "/bin/busybox");
        });
        var (code, output) = Lint(root);
        Assert.True(code == 0, output);
        Assert.Contains("C2   pass  entrypoint app -> /opt/real/app (executable)", output);
        Assert.Contains("C3   pass  /sbin/zinit -> /bin/busybox", output);
    }

    [SkippableTheory]
    [InlineData("/bin/true", "does not resolve inside the tree")]     // the host has it; the tree does not
    [InlineData("/etc/data", "resolves to /etc/data, which is not an executable file")]
    [InlineData("/bin/escape", "does not resolve inside the tree")]   // ../../../bin/true from /bin stays inside
    [InlineData("true", "is not found in PATH")]
    [InlineData("bin/sh", "-> /bin/busybox (executable)")]           // relative to dir = /
    public void EntrypointIsResolvedInsideTheTree(string program, string expected)
    {
        var root = Tree("ep" + Math.Abs(program.GetHashCode()), Startup(program), r =>
        {
            File.WriteAllText(Path.Combine(r, "etc", "data"), "not a program\n");
            File.CreateSymbolicLink(Path.Combine(r, "bin", "escape"), "../../../../usr/bin/true");
        });
        var (code, output) = Lint(root);
        Assert.Contains(expected, output);
        bool ok = expected.Contains("(executable)", StringComparison.Ordinal);
        Assert.True(code == (ok ? 0 : 4), output); // 4: ExitCodes.LintFailed
        Assert.Contains(ok ? "C2   pass" : "C2   FAIL", output);
    }

    [SkippableFact]
    public void NoStartupToml_IsAWarning_AMalformedOneAnError()
    {
        var (code, output) = Lint(Tree("none", null));
        Assert.True(code == 0, output);
        Assert.Contains("C2   warn  no /.startup.toml", output);

        (code, output) = Lint(Tree("bad", "[startup.entry.args]\nname = \"/bin/sh\nargs = [\n"));
        Assert.Equal(4, code); // ExitCodes.LintFailed
        Assert.Contains("C2   FAIL  /.startup.toml cannot be read", output);
    }

    [SkippableFact]
    public void KindIsDetectedByBootVmlinuz_AndCanBeForced()
    {
        var root = Tree("kernel", Startup("/bin/sh"), r =>
        {
            Directory.CreateDirectory(Path.Combine(r, "boot"));
            File.WriteAllText(Path.Combine(r, "boot", "vmlinuz"), "kernel\n");
        });
        // With /boot/vmlinuz it is a VM to ZOS, so the VM checks run.
        var (code, output) = Lint(root);
        Assert.Equal(4, code); // ExitCodes.LintFailed
        Assert.Contains("V2   FAIL", output);
        Assert.Contains("lint (vm):", output);
        // As a container it fails C1: ZOS would not run it as one.
        (code, output) = Lint(root, "--kind", "container");
        Assert.Equal(4, code); // ExitCodes.LintFailed
        Assert.Contains("C1   FAIL  /boot/vmlinuz exists", output);
        Assert.Contains("lint (container): 1 error(s)", output);
    }
}
