
namespace RootfsForge.Processes;

/// <summary>
/// The one way the build layer runs a child process (package managers and scripts in the chroot, host tools, qemu and
/// virtiofsd): <see cref="RunAsync"/> for a command that is awaited to its end, <see cref="Start"/> for one that runs
/// beside the caller until it is stopped. See <see cref="RunningProcess"/> for how a process is started and stopped.
/// </summary>
internal static class ProcessRunner
{
    /// <summary>
    /// Runs <paramref name="spec"/> to its end. Cancelling stops the whole process group (SIGTERM, then SIGKILL), waits
    /// for it and throws <see cref="OperationCanceledException"/>. A non-zero exit throws
    /// <see cref="ProcessFailedException"/> unless <see cref="ProcessSpec.ThrowOnFailure"/> is off.
    /// </summary>
    public static async Task<ProcessResult> RunAsync(ProcessSpec spec, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        await using var process = RunningProcess.Start(spec);
        return await process.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Starts <paramref name="spec"/> and returns at once; disposing the handle stops the process group.</summary>
    public static RunningProcess Start(ProcessSpec spec) => RunningProcess.Start(spec);

    /// <summary>The absolute path of a host program: the system directories first, then the caller's PATH; null when absent.</summary>
    public static string? TryFindProgram(string name)
    {
        if (name.Contains('/')) return File.Exists(name) ? name : null;
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        foreach (var dir in ProcessSpec.SystemPath.Split(':').Concat(path.Split(':')))
        {
            if (!dir.StartsWith('/')) continue; // an empty or relative PATH entry would mean the current directory
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    /// <summary>Like <see cref="TryFindProgram"/>, but a missing program is an error naming it.</summary>
    public static string FindProgram(string name) =>
        TryFindProgram(name) ?? throw new FileNotFoundException($"'{name}' was not found on the host (searched {ProcessSpec.SystemPath} and PATH)");
}
