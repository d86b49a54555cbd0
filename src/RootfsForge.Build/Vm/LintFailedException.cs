using RootfsForge.Lint;

namespace RootfsForge.Vm;

/// <summary>
/// The lint found errors, so <see cref="VmBuild"/> wrote no output. Kept as its own type because it carries what a
/// caller needs to act on: the whole <see cref="Report"/> (every check, not only the failed ones in the message).
/// </summary>
public sealed class LintFailedException : InvalidOperationException
{
    internal LintFailedException(LintReport report)
        : base("lint failed: " + string.Join("; ", report.Errors.Select(e => $"{e.Id} {e.Message}"))) => Report = report;

    /// <summary>The report.</summary>
    public LintReport Report { get; }
}
