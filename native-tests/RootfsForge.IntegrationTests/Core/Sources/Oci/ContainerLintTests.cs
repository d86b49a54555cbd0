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

    [SkippableFact]
    public void ZinitUnits_EachExecResolvedInsideTheTree_AsAdvisories()
    {
        var root = Tree("zinit", Startup("/bin/sh", path: "/bin"), r =>
        {
            string units = Path.Combine(r, "etc", "zinit");
            Directory.CreateDirectory(units);
            File.WriteAllText(Path.Combine(units, "ok.yaml"), "exec: /bin/sh -c \"sleep 1\"\nafter: [bare]\n");
            File.WriteAllText(Path.Combine(units, "bare.yaml"), "exec: busybox httpd -f\n");                      // PATH of .startup.toml
            File.WriteAllText(Path.Combine(units, "unitpath.yaml"), "exec: sh\nenv:\n  PATH: /nothing\n");     // the unit's PATH wins
            File.WriteAllText(Path.Combine(units, "missing.yaml"), "exec: /usr/bin/redis-server --port 6379\n");
            File.WriteAllText(Path.Combine(units, "quoted.yaml"), "exec: \"'/opt/my app/run' --flag\"\n");
            File.WriteAllText(Path.Combine(units, "reldir.yaml"), "exec: ./sh\ndir: /bin\n");
            File.WriteAllText(Path.Combine(units, "data.yaml"), "exec: /etc/hostname\n");
            File.WriteAllText(Path.Combine(units, "noexec.yaml"), "oneshot: true\n");
            File.WriteAllText(Path.Combine(units, "unclosed.yaml"), "exec: sh -c 'echo\n");
            File.WriteAllText(Path.Combine(units, "broken.yaml"), "exec: [unclosed\n");
            File.WriteAllText(Path.Combine(units, "notes.txt"), "exec: /nothing\n");                             // not *.yaml: not a unit
            File.CreateSymbolicLink(Path.Combine(units, "link.yaml"), "missing.yaml");                           // zinit skips links
            File.WriteAllText(Path.Combine(r, "etc", "hostname"), "box\n");
            Directory.CreateDirectory(Path.Combine(r, "opt", "my app"));
            File.CreateSymbolicLink(Path.Combine(r, "opt", "my app", "run"), "/bin/busybox");
        });
        var (code, output) = Lint(root);
        Assert.True(code == 0, output); // advisories: the lint passes
        const string u = "zinit unit /etc/zinit/";
        Assert.Contains($"C4   pass  {u}ok.yaml: exec /bin/sh -> /bin/busybox (executable)", output);
        Assert.Contains($"C4   pass  {u}bare.yaml: exec busybox -> /bin/busybox (executable)", output);
        Assert.Contains($"C4   warn  {u}unitpath.yaml: exec sh is not found in PATH /nothing", output);
        Assert.Contains($"C4   warn  {u}missing.yaml: exec /usr/bin/redis-server does not resolve inside the tree", output);
        Assert.Contains($"C4   pass  {u}quoted.yaml: exec /opt/my app/run -> /bin/busybox (executable)", output);
        Assert.Contains($"C4   pass  {u}reldir.yaml: exec ./sh -> /bin/busybox (executable)", output);
        Assert.Contains($"C4   warn  {u}data.yaml: exec /etc/hostname resolves to /etc/hostname, which is not an executable file", output);
        Assert.Contains($"C4   warn  {u}noexec.yaml has no exec: zinit refuses it", output);
        Assert.Contains($"C4   warn  {u}unclosed.yaml: exec has an unclosed quote", output);
        Assert.Contains($"C4   warn  {u}broken.yaml cannot be read, zinit skips it: /etc/zinit/broken.yaml:", output);
        Assert.Equal(10, Lines(output, "C4").Length); // not notes.txt, not the symlink
        Assert.Contains("lint (container): passed", output);
    }

    [SkippableFact]
    public void NoZinitUnits_NoC4()
    {
        var (code, output) = Lint(Tree("nounits", Startup("/bin/sh")));
        Assert.True(code == 0, output);
        Assert.Empty(Lines(output, "C4"));
    }
}
