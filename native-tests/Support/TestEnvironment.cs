using System.Diagnostics;
using Xunit;

namespace RootfsForge.NativeTests.Support;

/// <summary>Shared facts about the test machine: repo paths, fixture cache, root, tools; and a process runner.</summary>
public static class TestEnvironment
{
    /// <summary>The repository root (the folder holding RootfsForge.sln).</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>Where fixtures built by tools/ scripts are cached (ROOTFSFORGE_FIXTURES, else &lt;repo&gt;/.fixtures).</summary>
    public static string FixtureDir { get; } = Environment.GetEnvironmentVariable("ROOTFSFORGE_FIXTURES") is { Length: > 0 } d
        ? d
        : Path.Combine(RepoRoot, ".fixtures");

    /// <summary>The test data kept in the repository: native-tests/data (e2fsprogs/, rfs/, snappy/; see its README).</summary>
    public static string DataDir { get; } = Path.Combine(RepoRoot, "native-tests", "data");

    /// <summary>True when running as root.</summary>
    public static bool IsRoot => Environment.UserName == "root" || geteuid() == 0;

    /// <summary>Skips the test unless running as root.</summary>
    public static void RequireRoot(string why) => Skip.IfNot(IsRoot, $"needs root: {why}");

    /// <summary>Skips the test unless <paramref name="tool"/> is on PATH.</summary>
    public static void RequireTool(string tool) =>
        Skip.If(FindOnPath(tool) is null, $"needs '{tool}' on PATH (installed by .ci/run)");

    /// <summary>The full path of an executable on PATH, or null.</summary>
    public static string? FindOnPath(string tool)
    {
        if (tool.Contains('/')) return File.Exists(tool) ? tool : null;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':')
                     .Concat(["/usr/sbin", "/sbin"]))
        {
            var p = Path.Combine(dir, tool);
            if (File.Exists(p)) return p;
        }
        return null;
    }

    /// <summary>Runs a program, returns (exit code, stdout, stderr). Throws on timeout (kills the process tree).</summary>
    public static (int ExitCode, string StdOut, string StdErr) Run(string fileName, IEnumerable<string> args,
        string? workingDirectory = null, TimeSpan? timeout = null, IDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (environment is not null)
            foreach (var (k, v) in environment) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout ?? TimeSpan.FromMinutes(5)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {string.Join(' ', args)} did not finish in time");
        }
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Runs a program and throws with its stderr when it fails.</summary>
    public static string RunChecked(string fileName, IEnumerable<string> args, string? workingDirectory = null,
        TimeSpan? timeout = null)
    {
        var argList = args.ToList();
        var (code, o, e) = Run(fileName, argList, workingDirectory, timeout);
        if (code != 0)
            throw new InvalidOperationException($"{fileName} {string.Join(' ', argList)} exited {code}: {e}{o}");
        return o;
    }

    /// <summary>The built CLI (rootfsforge.dll, the framework-dependent build) next to the library build output, run through `dotnet`.</summary>
    public static string CliDll
    {
        get
        {
            var config = typeof(TestEnvironment).Assembly.Location.Contains("/Release/") ? "Release" : "Debug";
            return Path.Combine(RepoRoot, "src", "RootfsForge.Cli", "bin", config, "net10.0", "rootfsforge.dll");
        }
    }

    /// <summary>Runs the CLI with the given arguments.</summary>
    public static (int ExitCode, string StdOut, string StdErr) RunCli(params string[] args) =>
        Run("dotnet", new[] { CliDll }.Concat(args), timeout: TimeSpan.FromMinutes(10));

    /// <summary>A fresh empty temporary directory, deleted by the caller or left for the OS.</summary>
    public static string NewTempDir(string prefix = "rff-test")
    {
        var d = Path.Combine(Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(d);
        return d;
    }

    [System.Runtime.InteropServices.DllImport("libc")]
    private static extern uint geteuid();

    private static string FindRepoRoot()
    {
        var dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "RootfsForge.sln")))
            dir = Path.GetDirectoryName(dir);
        return dir ?? throw new InvalidOperationException("cannot find RootfsForge.sln above " + AppContext.BaseDirectory);
    }
}
