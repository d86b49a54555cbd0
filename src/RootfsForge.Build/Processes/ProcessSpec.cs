namespace RootfsForge.Processes;

/// <summary>
/// One child process to run: a program and its argument list (never a shell string), the complete environment it gets
/// (nothing is inherited), its working directory and where its output goes. Standard input is always empty.
/// </summary>
/// <param name="Program">An absolute path, or a bare name looked up with <see cref="ProcessRunner.FindProgram"/>.</param>
/// <param name="Arguments">The arguments, each passed to the program as it is.</param>
internal sealed record ProcessSpec(string Program, IReadOnlyList<string> Arguments)
{
    /// <summary>The directories searched for programs, and the PATH of <see cref="HostEnvironment"/>.</summary>
    public const string SystemPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    /// <summary>The environment host tools get by default: the system PATH and the C locale, so messages are predictable.</summary>
    public static IReadOnlyDictionary<string, string> HostEnvironment { get; } =
        new Dictionary<string, string>(StringComparer.Ordinal) { ["PATH"] = SystemPath, ["LC_ALL"] = "C" };

    /// <summary>The child's complete environment. Its values never appear in messages or exceptions (they may be secrets).</summary>
    public IReadOnlyDictionary<string, string> Environment { get; init; } = HostEnvironment;

    /// <summary>The working directory (default <c>/</c>).</summary>
    public string WorkingDirectory { get; init; } = "/";

    /// <summary>Where standard output and standard error go (default: captured into the result).</summary>
    public ProcessOutput Output { get; init; } = ProcessOutput.Capture;

    /// <summary>Throw <see cref="ProcessFailedException"/> when the exit code is not 0 (default true).</summary>
    public bool ThrowOnFailure { get; init; } = true;

    /// <summary>How long the process group gets between SIGTERM and SIGKILL when it is stopped.</summary>
    public TimeSpan KillGrace { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// How long to wait for the output pipes to close after the process exited: a background process it left behind may
    /// hold them open, and is not waited for.
    /// </summary>
    public TimeSpan OutputDrainTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The command as a shell would need it typed (arguments quoted where needed); the environment is not shown.</summary>
    public string CommandLine => string.Join(' ', Arguments.Prepend(Program).Select(Quote));

    private static string Quote(string argument) =>
        argument.Length > 0 && argument.All(c => char.IsAsciiLetterOrDigit(c) || "-_./=:,+@%".Contains(c))
            ? argument
            : "'" + argument.Replace("'", "'\\''") + "'";
}

/// <summary>Where a child's standard output and standard error go.</summary>
internal abstract record ProcessOutput
{
    private ProcessOutput()
    {
    }

    /// <summary>Read and dropped.</summary>
    public static ProcessOutput Discard { get; } = new DiscardOutput();

    /// <summary>Kept (up to <see cref="CaptureOutput.Limit"/> characters per stream) and returned in the result.</summary>
    public static ProcessOutput Capture { get; } = new CaptureOutput();

    /// <summary>Each line of either stream, as it arrives, passed to <paramref name="line"/> behind <paramref name="prefix"/>.</summary>
    public static ProcessOutput Lines(Action<string> line, string prefix = "") => new LineOutput(line, prefix);

    /// <summary>Both streams appended to a log file (created or truncated), line by line.</summary>
    public static ProcessOutput LogFile(string path) => new LogFileOutput(path);

    internal sealed record DiscardOutput : ProcessOutput;

    internal sealed record CaptureOutput : ProcessOutput
    {
        /// <summary>Characters kept per stream; the rest is read and dropped.</summary>
        public const int Limit = 1 << 20;
    }

    internal sealed record LineOutput(Action<string> Line, string Prefix) : ProcessOutput;

    internal sealed record LogFileOutput(string Path) : ProcessOutput;
}

/// <summary>How a child process ended.</summary>
/// <param name="ExitCode">Its exit status (128 + the signal number when a signal ended it).</param>
/// <param name="StandardOutput">Captured standard output (empty unless the output was <see cref="ProcessOutput.Capture"/>).</param>
/// <param name="StandardError">Captured standard error (likewise).</param>
internal sealed record ProcessResult(int ExitCode, string StandardOutput, string StandardError);
