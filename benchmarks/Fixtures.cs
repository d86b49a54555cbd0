using System.Diagnostics;

namespace RootfsForge.Benchmarks;

/// <summary>
/// Locates (and on first use builds, with make-fixtures.sh) the small images the micro-benchmarks read:
/// a bare ext4 made by <c>mke2fs -d</c> from a slice of the Debian 12 tree, and its deflate and zstd qcow2 conversions.
/// </summary>
internal static class Fixtures
{
    private static readonly Lazy<string> s_dir = new(Build);

    /// <summary>The bare ext4 image (raw: no compression cost).</summary>
    public static string Ext4 => Path.Combine(s_dir.Value, "bench.ext4");

    /// <summary>The image of the given kind: <c>raw</c>, <c>deflate</c> or <c>zstd</c>.</summary>
    public static string Image(string kind) => kind switch
    {
        "raw" => Ext4,
        "deflate" => Path.Combine(s_dir.Value, "bench-deflate.qcow2"),
        "zstd" => Path.Combine(s_dir.Value, "bench-zstd.qcow2"),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "raw, deflate or zstd"),
    };

    /// <summary>The repository root: the first directory upwards holding RootfsForge.sln (BenchmarkDotNet runs a copy
    /// of this program from benchmarks/bin/..., so both the base directory and the working directory are tried).</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    private static string FindRepoRoot()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "RootfsForge.sln"))) return dir.FullName;
            }
        }
        throw new InvalidOperationException("cannot find the repository root (RootfsForge.sln) above " + AppContext.BaseDirectory);
    }

    private static string Build()
    {
        string dir = Environment.GetEnvironmentVariable("ROOTFSFORGE_BENCH_FIXTURES") ?? Path.Combine(RepoRoot, ".fixtures", "bench");
        var psi = new ProcessStartInfo("bash") { ArgumentList = { Path.Combine(RepoRoot, "benchmarks", "make-fixtures.sh"), dir } };
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("cannot start bash");
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"benchmarks/make-fixtures.sh failed (exit {process.ExitCode}); it needs root and tools/make-debian-image.sh's cache");
        return dir;
    }
}
