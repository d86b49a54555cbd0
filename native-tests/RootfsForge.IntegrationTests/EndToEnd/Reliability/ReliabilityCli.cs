using System.Diagnostics;
using System.Runtime.InteropServices;
using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Reliability;

/// <summary>How one CLI process ended: exit code, output, and how long it took.</summary>
public sealed record CliRun(int ExitCode, string StdOut, string StdErr, TimeSpan Elapsed)
{
    public override string ToString() => $"exit {ExitCode} after {Elapsed.TotalSeconds:F1} s: {StdErr.Trim()}";
}

/// <summary>Runs the built CLI (<see cref="TestEnvironment.CliDll"/>) as a process, the way a user does.</summary>
public static partial class ReliabilityCli
{
    /// <summary>Skips unless the CLI is built.</summary>
    public static void Require() =>
        Skip.IfNot(File.Exists(TestEnvironment.CliDll), $"the CLI is not built at {TestEnvironment.CliDll}");

    /// <summary>Runs the CLI with a deadline; SOURCE_DATE_EPOCH cleared (it would clamp mtimes).</summary>
    public static CliRun Run(TimeSpan timeout, params string[] args)
    {
        var sw = Stopwatch.StartNew();
        var (code, stdout, stderr) = TestEnvironment.Run("dotnet", new[] { TestEnvironment.CliDll }.Concat(args),
            timeout: timeout, environment: new Dictionary<string, string> { ["SOURCE_DATE_EPOCH"] = "" });
        return new CliRun(code, stdout, stderr, sw.Elapsed);
    }

    /// <summary>Starts the CLI without waiting; stdout and stderr are collected in the background.</summary>
    public static (Process Process, Task<string> StdOut, Task<string> StdErr) Start(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(TestEnvironment.CliDll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["SOURCE_DATE_EPOCH"] = "";
        var p = Process.Start(psi)!;
        return (p, p.StandardOutput.ReadToEndAsync(), p.StandardError.ReadToEndAsync());
    }

    /// <summary>Sends a signal to one process (kill(2)).</summary>
    public static void Signal(Process process, int signal)
    {
        if (kill(process.Id, signal) != 0 && !process.HasExited)
            throw new InvalidOperationException($"kill({process.Id}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    public const int SIGINT = 2, SIGTERM = 15;

    /// <summary>
    /// True when some thread of <paramref name="pid"/> is inside fsync(2) or fdatasync(2) right now, from
    /// /proc/PID/task/TID/syscall (x86-64: 74/75, arm64: 82/83).
    /// </summary>
    public static bool InFsync(int pid)
    {
        (string Fsync, string Fdatasync) numbers = RuntimeInformation.ProcessArchitecture == Architecture.Arm64
            ? ("82", "83")
            : ("74", "75");
        try
        {
            foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
            {
                string line;
                try
                {
                    line = File.ReadAllText(Path.Combine(task, "syscall"));
                }
                catch (IOException)
                {
                    continue; // the thread ended
                }
                int space = line.IndexOf(' ');
                string number = space < 0 ? line.Trim() : line[..space];
                if (number == numbers.Fsync || number == numbers.Fdatasync) return true;
            }
        }
        catch (DirectoryNotFoundException)
        {
        }
        return false;
    }

    /// <summary>Every entry of <paramref name="dir"/> (names only), for "nothing else was written" checks.</summary>
    public static string[] Entries(string dir) =>
        Directory.Exists(dir) ? Directory.GetFileSystemEntries(dir).Select(p => Path.GetFileName(p)).Order().ToArray() : [];

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int signal);
}
