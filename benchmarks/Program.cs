using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;

namespace RootfsForge.Benchmarks;

internal static class Program
{
    /// <summary>BenchmarkDotNet's switcher (<c>--list flat</c>, <c>--filter</c>, <c>--job short</c>, ...), or
    /// <c>stages IMAGE</c> for the per-stage timing of an extraction (<see cref="StageProfile"/>).</summary>
    private static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "stages") return StageProfile.Run(args[1..]);
        // BenchmarkDotNet builds a boilerplate project per job; its default 2-minute limit is too short on a busy 2-core CI runner.
        var config = ManualConfig.Create(DefaultConfig.Instance).WithBuildTimeout(TimeSpan.FromMinutes(15));
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config);
        return 0;
    }
}
