namespace RootfsForge.Lint;

/// <summary>How much a failed check matters (docs/zos-vm.md §7).</summary>
public enum LintSeverity
{
    /// <summary>Information only (sizes, xattrs).</summary>
    Info,
    /// <summary>Probably a problem, but the flist may still boot.</summary>
    Warning,
    /// <summary>The flist will not boot correctly on ZOS.</summary>
    Error,
}

/// <summary>What ZOS makes of a flist (docs/zos-vm.md §1): a full VM when it has <c>/boot/vmlinuz</c>, else a container.</summary>
public enum FlistKind
{
    /// <summary>A full VM: its own kernel and initrd (checks V1–V15).</summary>
    Vm,
    /// <summary>A container on ZOS's kernel (checks C1–C3 and V6, V10, V14, V15).</summary>
    Container,
}

/// <summary>The outcome of one check.</summary>
/// <param name="Id">The check id of docs/zos-vm.md §7 (V1…V15, C1…C3).</param>
/// <param name="Severity">Severity when it fails.</param>
/// <param name="Passed">True when the check passed.</param>
/// <param name="Message">What was found, and why it passed or failed.</param>
public sealed record LintFinding(string Id, LintSeverity Severity, bool Passed, string Message)
{
    /// <inheritdoc />
    public override string ToString() =>
        $"{Id,-4} {(Passed ? "pass" : Severity switch { LintSeverity.Error => "FAIL", LintSeverity.Warning => "warn", _ => "info" })}  {Message}";
}

/// <summary>All findings of a lint run.</summary>
public sealed class LintReport
{
    internal LintReport(IReadOnlyList<LintFinding> findings, FlistKind kind)
    {
        Findings = findings;
        Kind = kind;
    }

    /// <summary>The kind of flist the tree was checked as.</summary>
    public FlistKind Kind { get; }

    /// <summary>Every finding, in check order.</summary>
    public IReadOnlyList<LintFinding> Findings { get; }

    /// <summary>Failed checks of severity <see cref="LintSeverity.Error"/>.</summary>
    public IEnumerable<LintFinding> Errors => Findings.Where(f => !f.Passed && f.Severity == LintSeverity.Error);

    /// <summary>True when no error-level check failed.</summary>
    public bool Passed => !Errors.Any();

    /// <summary>The finding of a check id (the first, if a check reports several).</summary>
    public LintFinding? this[string id] => Findings.FirstOrDefault(f => f.Id == id);
}
