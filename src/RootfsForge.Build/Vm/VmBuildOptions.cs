using RootfsForge.Lint;
using RootfsForge.Steps;

namespace RootfsForge.Vm;

/// <summary>What <see cref="VmBuild"/> does to the tree between extraction and output.</summary>
public sealed record VmBuildOptions
{
    /// <summary>Packages to install with the image's package manager.</summary>
    public IReadOnlyList<string> Install { get; init; } = [];

    /// <summary>Packages to remove (purge).</summary>
    public IReadOnlyList<string> Remove { get; init; } = [];

    /// <summary>Host files or folders copied in (after packages).</summary>
    public IReadOnlyList<CopySpec> Copies { get; init; } = [];

    /// <summary>Shell commands run in the chroot (after copies), in order.</summary>
    public IReadOnlyList<string> Runs { get; init; } = [];

    /// <summary>Host scripts run in the chroot (after the commands), in order.</summary>
    public IReadOnlyList<string> RunScripts { get; init; } = [];

    /// <summary>The kernel choice (default: the image's own).</summary>
    public KernelChoice Kernel { get; init; } = KernelChoice.Image;

    /// <summary>
    /// The kernel definitions the image's distribution is looked up in (default: <see cref="KernelDefinition.Embedded"/>;
    /// <see cref="KernelDefinition.LoadWithOverrides"/> adds a folder's).
    /// </summary>
    public IReadOnlyList<KernelDefinition> KernelDefinitions { get; init; } = KernelDefinition.Embedded;

    /// <summary>Also write the decompressed ELF kernel and point /boot/vmlinuz at it.</summary>
    public bool UncompressedKernel { get; init; }

    /// <summary>Run the linter and fail the build on errors (default true).</summary>
    public bool Lint { get; init; } = true;

    /// <summary>Build in this directory (created 0700, must be empty) and keep the tree there afterwards.</summary>
    public string? KeepStaging { get; init; }

    /// <summary>Where the private staging directory is created (default /var/tmp).</summary>
    public string StagingParent { get; init; } = "/var/tmp";

    /// <summary>
    /// SOURCE_DATE_EPOCH for every command in the chroot (initramfs-tools, shadow and dpkg honour it, so their output
    /// repeats), computed from the extracted staging root (its argument) before the first command; null: not set.
    /// </summary>
    public Func<string, long?>? SourceDateEpoch { get; init; }

    /// <summary>Progress lines (one per step and sub-step).</summary>
    public Action<string>? Progress { get; init; }

    /// <summary>Output of the commands run in the chroot, prefixed per tool.</summary>
    public Action<string>? CommandOutput { get; init; }
}

/// <summary>What a build did.</summary>
/// <param name="Steps">Each step with its duration.</param>
/// <param name="SizeBefore">Bytes in regular files after extraction.</param>
/// <param name="SizeAfter">Bytes in regular files before output.</param>
/// <param name="Elapsed">Total time.</param>
/// <param name="Kernel">The kernel step's result.</param>
/// <param name="Lint">The lint report (null with <see cref="VmBuildOptions.Lint"/> off).</param>
public sealed record VmBuildResult(IReadOnlyList<(string Step, TimeSpan Duration)> Steps, long SizeBefore, long SizeAfter,
    TimeSpan Elapsed, KernelResult? Kernel, LintReport? Lint);
