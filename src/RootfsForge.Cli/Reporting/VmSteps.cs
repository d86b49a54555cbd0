using RootfsForge.Cli.Json;
using RootfsForge.Lint;
using RootfsForge.Sinks;
using RootfsForge.Tree;
using RootfsForge.Vm;

namespace RootfsForge.Cli;

/// <summary>How <c>vm</c> reports: its step lines, its summary and its <c>rootfsforge.vm/v1</c> document.</summary>
internal static class VmSteps
{
    /// <summary>
    /// The build's progress lines: a step's start (<c>==&gt; name</c>) and end (<c>name: done in</c>) normally, the
    /// indented detail of a step (sub-steps, every lint check) only with -v, nothing with -q.
    /// </summary>
    public static Action<string> Lines(Reporter r) => line =>
    {
        bool detail = line.StartsWith("    ", StringComparison.Ordinal) && !line.Contains(": done in ", StringComparison.Ordinal);
        if (detail) r.Detail(line);
        else r.Info(line);
    };

    /// <summary>The input's warnings (VmInputs prefixes them with "warning: ").</summary>
    public static Action<string> SourceWarning(Reporter r) => line =>
        r.Warning(line.StartsWith("warning: ", StringComparison.Ordinal) ? line["warning: ".Length..] : line);

    public static void PrintSummary(Reporter r, VmBuildResult result, OutputSpec output)
    {
        if (r.Quiet) return;
        var e = Console.Error;
        e.WriteLine();
        e.WriteLine("summary:");
        foreach (var (step, duration) in result.Steps) e.WriteLine($"  {duration.TotalSeconds,8:F1} s  {step}");
        e.WriteLine($"  size: {result.SizeBefore / 1048576.0:F1} MiB before, {result.SizeAfter / 1048576.0:F1} MiB after");
        if (result.Kernel is { } k) e.WriteLine($"  kernel: /boot/vmlinuz -> /{k.Kernel}{(k.Initrd is null ? "" : $", /boot/initrd.img -> /{k.Initrd}")}");
        if (result.Lint is { } l)
            e.WriteLine($"  lint: passed ({l.Findings.Count(f => !f.Passed && f.Severity == LintSeverity.Warning)} warning(s))");
        e.WriteLine($"  output: {(output.Kind is OutputKind.Hub or OutputKind.StandardOutput ? output.ToString() : Path.GetFullPath(output.Path))}");
        e.WriteLine($"  total: {result.Elapsed.TotalSeconds:F1} s");
    }

    /// <summary>The document of a finished build, or of one the lint stopped (<paramref name="result"/> null, exit 4).</summary>
    public static VmResult Document(string input, VmBuildResult? result, OutputResult? output, SinkStatistics? stats, Reporter r,
        LintReport? lint, string? error) =>
        new(JsonResultWriter.Schema("vm"), input, output, stats is null ? null : Results.Tree(stats),
            result?.Steps.Select(s => new StepResult(s.Step, Results.Seconds(s.Duration))).ToList() ?? [],
            result?.SizeBefore ?? 0, result?.SizeAfter ?? 0,
            result?.Kernel is { } k ? new KernelResult(k.Kernel, k.Initrd) : null,
            lint is null ? null : Results.Lint(lint),
            result is null ? 0 : Results.Seconds(result.Elapsed), r.Warnings, error is null ? null : TreePath.Printable(error));
}
