using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using RootfsForge.NativeTests.Support;

namespace RootfsForge.NativeTests.Reliability;

/// <summary>How one CLI run of a fuzz case ended.</summary>
public sealed record FuzzRun(string[] Args, int ExitCode, string StdErr, long StdOutBytes, long PeakRssKiB, TimeSpan Elapsed,
    bool TimedOut, bool OutputCapped)
{
    public string Command => string.Join(' ', Args.Select(a => a.Contains(' ') || a.Length == 0 ? $"'{a}'" : a));
}

/// <summary>
/// Runs the CLI on one mutated input in a sandbox (root/case/{in,out,tmp}, TMPDIR=tmp), with a time limit, a GC heap
/// limit, the peak RSS read from /proc/PID/status (VmHWM), and standard output counted (kept up to a cap, for oracles).
/// </summary>
public static class FuzzRunner
{
    public static readonly TimeSpan TimeLimit = TimeSpan.FromSeconds(20);
    public const long RssLimitKiB = 1L << 20; // 1 GiB
    public const long StdOutCap = 64L << 20;

    /// <summary>Runs <c>rootfsforge args</c> with <paramref name="cwd"/> as working directory; stdout to <paramref name="stdoutFile"/>.</summary>
    public static FuzzRun Run(string cwd, string tmp, string stdoutFile, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = cwd,
        };
        psi.ArgumentList.Add(TestEnvironment.CliDll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["SOURCE_DATE_EPOCH"] = "";
        psi.Environment["TMPDIR"] = tmp;
        // Unbounded managed memory ends as an OutOfMemoryException (a crash the rules catch) instead of swapping the machine.
        psi.Environment["DOTNET_GCHeapHardLimit"] = "0x60000000";
        var sw = Stopwatch.StartNew();
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        long written = 0;
        bool capped = false;
        var copy = Task.Run(() =>
        {
            using var file = File.Create(stdoutFile);
            var buffer = new byte[1 << 16];
            var stream = p.StandardOutput.BaseStream;
            int n;
            while ((n = stream.Read(buffer)) > 0)
            {
                if (written + n <= StdOutCap) file.Write(buffer, 0, n);
                written += n;
                if (written > StdOutCap && !capped)
                {
                    capped = true;
                    try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                }
            }
        });
        long peak = 0;
        bool timedOut = false;
        while (!p.WaitForExit(10))
        {
            peak = Math.Max(peak, PeakRss(p.Id));
            if (sw.Elapsed > TimeLimit)
            {
                timedOut = true;
                try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                p.WaitForExit();
                break;
            }
        }
        p.WaitForExit();
        copy.Wait(TimeSpan.FromSeconds(30));
        return new FuzzRun(args, p.ExitCode, stderr.Result, written, peak, sw.Elapsed, timedOut, capped);
    }

    /// <summary>VmHWM of a process in KiB (0 when it is gone).</summary>
    private static long PeakRss(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
        return 0;
    }

    /// <summary>
    /// The rules every run obeys on hostile input: exit 0 or 3 (one clear "rootfsforge: …" line), no stack trace, within the
    /// time limit and the RSS limit. Null when obeyed.
    /// </summary>
    public static string? Violation(FuzzRun r)
    {
        if (r.TimedOut) return $"did not finish within {TimeLimit.TotalSeconds:F0} s (killed)";
        if (r.StdErr.Contains("Unhandled exception", StringComparison.Ordinal) || r.StdErr.Contains("\n   at ", StringComparison.Ordinal))
            return $"crashed with a stack trace (exit {r.ExitCode}): {Tail(r.StdErr)}";
        if (r.PeakRssKiB > RssLimitKiB) return $"peak RSS {r.PeakRssKiB >> 10} MiB exceeds {RssLimitKiB >> 10} MiB";
        if (r.OutputCapped) return null; // judged by the caller against the file's size
        if (r.ExitCode is not (0 or 3)) return $"exit code {r.ExitCode} (only 0 or 3 allowed): {Tail(r.StdErr)}";
        if (r.ExitCode == 3)
        {
            var last = r.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault();
            if (last is null || !last.StartsWith("rootfsforge:", StringComparison.Ordinal) || last.Length < 20)
                return $"exit 3 without a clear one-line 'rootfsforge: …' message: [{Tail(r.StdErr)}]";
        }
        return null;
    }

    public static string Tail(string s, int max = 1200) =>
        s.Length <= max ? s.Trim() : "…" + s[^max..].Trim();

    /// <summary>SHA-256 of a file, to prove the input was not changed.</summary>
    public static string Hash(string path)
    {
        using var f = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(f));
    }

    /// <summary>Entries of a directory tree as relative paths, for "nothing else appeared" checks.</summary>
    public static IEnumerable<string> Listing(string dir) =>
        Directory.Exists(dir)
            ? Directory.EnumerateFileSystemEntries(dir, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
                .Select(p => Path.GetRelativePath(dir, p)).Order()
            : [];
}
