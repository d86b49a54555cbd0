namespace RootfsForge.Processes;

/// <summary>
/// A program RootfsForge ran (a package manager in the chroot, a script, a host tool) exited with a non-zero status.
/// The message names the command and the exit code, and the end of its error output when that was captured; the
/// environment the program got is never part of it.
/// </summary>
public sealed class ProcessFailedException : InvalidOperationException
{
    internal ProcessFailedException(string command, int exitCode, string? errorOutput)
        : base($"{command} failed with exit code {exitCode}{(string.IsNullOrWhiteSpace(errorOutput) ? "" : ": " + errorOutput.Trim())}")
    {
        Command = command;
        ExitCode = exitCode;
    }

    /// <summary>The command line, arguments quoted as a shell would need them.</summary>
    public string Command { get; }

    /// <summary>Its exit status (128 + the signal number when a signal ended it).</summary>
    public int ExitCode { get; }
}
