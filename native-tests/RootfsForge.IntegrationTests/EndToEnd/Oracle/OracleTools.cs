using System.Diagnostics;
using System.Text;
using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Oracle;

/// <summary>A read-only loop mount of a filesystem image (the kernel's own view), unmounted on dispose.</summary>
public sealed class LoopMount : IDisposable
{
    public string Path { get; }

    private LoopMount(string path) => Path = path;

    /// <summary>Mounts <paramref name="image"/> at byte <paramref name="offset"/>; null with the error when the kernel
    /// refuses it.</summary>
    public static LoopMount? TryReadOnly(string image, long offset, out string error)
    {
        var dir = TestEnvironment.NewTempDir("rff-mnt");
        var opts = offset == 0 ? "ro,loop" : $"ro,loop,offset={offset}";
        // noload: never replay a journal (the image must not change, and the reader sees the on-disk state too).
        var (code, o, e) = TestEnvironment.Run("mount", ["-o", opts + ",noload", image, dir],
            timeout: TimeSpan.FromMinutes(1));
        if (code != 0)
        {
            // ext2 refuses "noload"; retry without it.
            (code, o, e) = TestEnvironment.Run("mount", ["-o", opts, image, dir], timeout: TimeSpan.FromMinutes(1));
        }
        if (code != 0)
        {
            Directory.Delete(dir);
            error = $"mount -o {opts} {image}: exit {code}: {e}{o}";
            return null;
        }
        error = "";
        return new LoopMount(dir);
    }

    public static LoopMount ReadOnly(string image, long offset)
    {
        var m = TryReadOnly(image, offset, out var error);
        Assert.True(m is not null, error);
        return m!;
    }

    public void Dispose()
    {
        for (int i = 0; i < 10; i++)
        {
            var (code, _, _) = TestEnvironment.Run("umount", [Path], timeout: TimeSpan.FromMinutes(1));
            if (code == 0) break;
            Thread.Sleep(200);
        }
        try { Directory.Delete(Path); } catch (IOException) { }
    }
}

/// <summary>Runs tools/oracle/compare.py.</summary>
public static class Comparer
{
    public static string Script => System.IO.Path.Combine(TestEnvironment.RepoRoot, "tools", "oracle", "compare.py");

    /// <summary>Compares and asserts equality, showing compare.py's differences in the failure message.</summary>
    public static string AssertEqual(string what, params string[] args)
    {
        var (code, stdout, stderr) = TestEnvironment.Run("python3", new[] { Script }.Concat(args),
            timeout: TimeSpan.FromMinutes(5));
        var output = stdout + stderr;
        Assert.True(code == 0, $"{what}: compare.py exit {code}:\n{Truncate(output, 8000)}");
        return output;
    }

    public static string Truncate(string s, int max) =>
        s.Length <= max ? s : s[..max] + $"\n... ({s.Length - max} more characters)";
}

/// <summary>How one CLI run on bad input ended.</summary>
public sealed record GuardedResult(int ExitCode, string StdErr, bool TimedOut, TimeSpan Elapsed)
{
    /// <summary>Null when the run obeys the rule for corrupt input: exit 0, or exit 3 with one clear message, within the
    /// time limit, no crash (no other exit code, no stack trace); else what went wrong.</summary>
    public string? Violation()
    {
        if (TimedOut) return $"did not finish within {Elapsed.TotalSeconds:F0} s (killed)";
        if (StdErr.Contains("Unhandled exception", StringComparison.Ordinal) || StdErr.Contains("\n   at ", StringComparison.Ordinal))
            return $"crashed with a stack trace (exit {ExitCode}): {Comparer.Truncate(StdErr, 1500)}";
        if (ExitCode is not (0 or 3)) return $"exit code {ExitCode} (only 0 or 3 allowed): {Comparer.Truncate(StdErr, 1500)}";
        if (ExitCode == 3)
        {
            var last = StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .LastOrDefault();
            if (last is null || !last.StartsWith("rootfsforge:", StringComparison.Ordinal) || last.Length < 20)
                return $"exit 3 without a clear one-line 'rootfsforge: ...' message: [{Comparer.Truncate(StdErr, 500)}]";
        }
        return null;
    }
}

/// <summary>Runs the CLI on (possibly hostile) input in a sandbox, with a time limit and a GC heap limit.</summary>
public static class GuardedCli
{
    /// <summary>
    /// A hang detector, not a speed test (speed is measured in benchmarks/): the largest corpus image, f_many_subdirs
    /// with 130,000 directories, takes ~5 s to a directory on an idle 2-core machine and went past 10 s under the full
    /// suite's load.
    /// </summary>
    public static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    public static GuardedResult Run(params string[] args)
    {
        var sw = Stopwatch.StartNew();
        try
        {
            var (code, _, stderr) = TestEnvironment.Run("dotnet", new[] { TestEnvironment.CliDll }.Concat(args),
                timeout: Limit, environment: new Dictionary<string, string>
                {
                    // Unbounded memory shows up as an OutOfMemoryException (a crash) instead of swapping the machine.
                    ["DOTNET_GCHeapHardLimit"] = "0x30000000",
                    ["SOURCE_DATE_EPOCH"] = "",
                });
            return new GuardedResult(code, stderr, false, sw.Elapsed);
        }
        catch (TimeoutException)
        {
            return new GuardedResult(-1, "", true, sw.Elapsed);
        }
    }

    /// <summary>
    /// Extracts <paramref name="image"/> to a tar and to a directory inside a nested sandbox (a/b/c) and checks the
    /// outcome rule plus: nothing but the requested outputs appears in c, b or a (no stray temp files, no writes
    /// through ../ or symlinks), the image is unchanged, and a failed run leaves no output behind.
    /// Returns the list of violations (empty when all is well).
    /// </summary>
    public static List<string> ExtractChecked(string image, bool alsoDirectory)
    {
        var problems = new List<string>();
        var root = TestEnvironment.NewTempDir("rff-sandbox");
        try
        {
            var c = Path.Combine(root, "a", "b", "c");
            Directory.CreateDirectory(c);
            var before = Fingerprint(image);
            var targets = alsoDirectory ? new[] { "out.tar", "outdir" } : ["out.tar"];
            var killed = new List<string>();
            foreach (var t in targets)
            {
                var r = Run("extract", image, "-o", Path.Combine(c, t), "--quiet");
                if (r.Violation() is { } v) problems.Add($"-o {t}: {v}");
                if (r.TimedOut) killed.Add(t);
                var present = Path.Exists(Path.Combine(c, t));
                if (r.ExitCode == 3 && present && t == "out.tar")
                    problems.Add($"-o {t}: exit 3 but the output file exists (half-written output)");
                if (r.ExitCode == 0 && !present) problems.Add($"-o {t}: exit 0 but no output");
                if (r.ExitCode == 0 && present && t == "out.tar" && CheckTar(Path.Combine(c, t)) is { } bad)
                    problems.Add($"-o {t}: exit 0 but {bad}");
            }
            var allowed = new HashSet<string>(targets);
            // A run killed at the time limit cannot remove its temporary output (already reported as a hang).
            foreach (var t in killed) allowed.UnionWith(Directory.EnumerateFileSystemEntries(c, $".{t}.tmp*").Select(p => Path.GetFileName(p)!));
            foreach (var (dir, expect) in new[] { (c, allowed), (Path.Combine(root, "a", "b"), ["c"]),
                         (Path.Combine(root, "a"), ["b"]), (root, new HashSet<string> { "a" }) })
                foreach (var name in Directory.EnumerateFileSystemEntries(dir).Select(Path.GetFileName))
                    if (!expect.Contains(name!))
                        problems.Add($"wrote outside the output: {Path.GetRelativePath(root, Path.Combine(dir, name!))}");
            if (Fingerprint(image) != before) problems.Add("the input image was modified");
        }
        finally
        {
            RemoveTree(root);
        }
        return problems;
    }

    /// <summary>Null when the tar reads to its end and no entry name or hard-link target leaves the root.</summary>
    private static string? CheckTar(string tar)
    {
        try
        {
            using var reader = new System.Formats.Tar.TarReader(File.OpenRead(tar));
            while (reader.GetNextEntry() is { } e)
            {
                foreach (var name in new[] { e.Name, e.EntryType == System.Formats.Tar.TarEntryType.HardLink ? e.LinkName : "" })
                    if (name.StartsWith('/') || name.Split('/').Contains(".."))
                        return $"the tar has an entry escaping the root: {name}";
            }
            return null;
        }
        catch (Exception e) when (e is InvalidDataException or FormatException or EndOfStreamException or IOException)
        {
            return $"the tar is unreadable: {e.Message}";
        }
    }

    private static string Fingerprint(string path)
    {
        var fi = new FileInfo(path);
        return $"{fi.Length}:{fi.LastWriteTimeUtc.Ticks}";
    }

    /// <summary>Deletes a tree as root even when the extraction made it read-only or immutable-looking.</summary>
    public static void RemoveTree(string dir)
    {
        if (!Directory.Exists(dir)) return;
        TestEnvironment.Run("chmod", ["-R", "u+rwx", dir], timeout: TimeSpan.FromMinutes(1));
        TestEnvironment.Run("rm", ["-rf", "--one-file-system", dir], timeout: TimeSpan.FromMinutes(2));
    }
}

/// <summary>Runs the CLI like <see cref="TestEnvironment.RunCli"/>, with SOURCE_DATE_EPOCH cleared (it would clamp
/// mtimes and make every oracle comparison differ).</summary>
public static class OracleCli
{
    public static (int ExitCode, string StdOut, string StdErr) Run(params string[] args) =>
        TestEnvironment.Run("dotnet", new[] { TestEnvironment.CliDll }.Concat(args), timeout: TimeSpan.FromMinutes(10),
            environment: new Dictionary<string, string> { ["SOURCE_DATE_EPOCH"] = "" });
}

/// <summary>Runs a process with stdout streamed to a file (binary-safe, for `extract -o -`).</summary>
public static class BinaryRun
{
    public static (int ExitCode, string StdErr) ToFile(string stdoutPath, string fileName, IEnumerable<string> args,
        TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["SOURCE_DATE_EPOCH"] = "";
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        using (var f = File.Create(stdoutPath))
        {
            var copy = p.StandardOutput.BaseStream.CopyToAsync(f);
            if (!copy.Wait(timeout))
            {
                p.Kill(entireProcessTree: true);
                throw new TimeoutException($"{fileName} did not finish in time");
            }
        }
        p.WaitForExit();
        return (p.ExitCode, stderr.Result);
    }

    public static string Describe(int code, string stderr) =>
        new StringBuilder().Append("exit ").Append(code).Append(": ").Append(Comparer.Truncate(stderr, 3000)).ToString();
}
