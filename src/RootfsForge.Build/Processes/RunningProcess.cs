using System.ComponentModel;
using System.Diagnostics;
using System.Text;
using RootfsForge.IO;

namespace RootfsForge.Processes;

/// <summary>
/// A started child process and the tasks reading its output.
/// </summary>
/// <remarks>
/// The child is started through setsid(1): a child of this process is never a process-group leader, so setsid makes it
/// the leader of a new session and process group without forking, and its pid is also its group id. Stopping it
/// signals the whole group (everything it started that did not leave the group): SIGTERM, then, after
/// <see cref="ProcessSpec.KillGrace"/>, SIGKILL, and then waits for it. Standard input is empty (closed at once).
/// </remarks>
internal sealed class RunningProcess : IAsyncDisposable
{
    private const int SigKill = 9;
    private const int SigTerm = 15;

    private readonly Process _process;
    private readonly ProcessSpec _spec;
    private readonly TextWriter? _log;
    private readonly StringBuilder? _stdout;
    private readonly StringBuilder? _stderr;
    private readonly object _lineLock = new();
    private readonly Task _pumps;
    private bool _drained;

    private RunningProcess(Process process, ProcessSpec spec, TextWriter? log)
    {
        _process = process;
        _spec = spec;
        _log = log;
        if (spec.Output is ProcessOutput.CaptureOutput)
        {
            _stdout = new StringBuilder();
            _stderr = new StringBuilder();
        }
        _pumps = Task.WhenAll(PumpAsync(process.StandardOutput, _stdout), PumpAsync(process.StandardError, _stderr));
    }

    /// <summary>The process id, which is also its process group id.</summary>
    public int Id => _process.Id;

    /// <summary>True once the process has exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>The exit status; only valid once <see cref="HasExited"/> is true.</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>The command line (for messages).</summary>
    public string CommandLine => _spec.CommandLine;

    /// <summary>Starts the process described by <paramref name="spec"/>.</summary>
    public static RunningProcess Start(ProcessSpec spec)
    {
        var program = ProcessRunner.FindProgram(spec.Program);
        var psi = new ProcessStartInfo(ProcessRunner.FindProgram("setsid"))
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = spec.WorkingDirectory,
        };
        psi.ArgumentList.Add(program);
        foreach (var argument in spec.Arguments) psi.ArgumentList.Add(argument);
        psi.Environment.Clear();
        foreach (var (name, value) in spec.Environment) psi.Environment[name] = value;

        TextWriter? log = spec.Output is ProcessOutput.LogFileOutput file
            ? TextWriter.Synchronized(new StreamWriter(file.Path, append: false) { AutoFlush = true })
            : null;
        var process = new Process { StartInfo = psi };
        try
        {
            process.Start();
        }
        catch (Win32Exception e)
        {
            process.Dispose();
            log?.Dispose();
            throw new IOException($"cannot start {spec.CommandLine}: {e.Message}", e);
        }
        process.StandardInput.Close();
        return new RunningProcess(process, spec, log);
    }

    /// <summary>
    /// Waits for the process to exit and its output to be read. On cancellation the process group is stopped first and
    /// <see cref="OperationCanceledException"/> thrown. A non-zero exit throws <see cref="ProcessFailedException"/>
    /// when <see cref="ProcessSpec.ThrowOnFailure"/> is set.
    /// </summary>
    public async Task<ProcessResult> WaitAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await StopAsync().ConfigureAwait(false);
            throw;
        }
        await DrainAsync().ConfigureAwait(false);
        var result = new ProcessResult(_process.ExitCode, _stdout?.ToString() ?? "", _stderr?.ToString() ?? "");
        if (_spec.ThrowOnFailure && result.ExitCode != 0)
            throw new ProcessFailedException(_spec.CommandLine, result.ExitCode, LastLines(result.StandardError));
        return result;
    }

    /// <summary>Stops the process group (SIGTERM, SIGKILL after the grace) and waits for the process and its output.</summary>
    public async Task StopAsync()
    {
        if (!_process.HasExited)
        {
            Posix.Kill(-Id, SigTerm);
            using var grace = new CancellationTokenSource(_spec.KillGrace);
            try
            {
                await _process.WaitForExitAsync(grace.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }
        // Whatever is left of the group (members that ignore SIGTERM, or the leader itself) is killed now.
        Posix.Kill(-Id, SigKill);
        if (!_process.HasExited) Posix.Kill(Id, SigKill);
        await _process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        await DrainAsync().ConfigureAwait(false);
    }

    /// <summary>Stops the process if it still runs, then releases it and its log file.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited || !_drained) await StopAsync().ConfigureAwait(false);
        }
        finally
        {
            _process.Dispose();
            _log?.Dispose();
        }
    }

    private async Task DrainAsync()
    {
        if (_drained) return;
        _drained = true;
        try
        {
            await _pumps.WaitAsync(_spec.OutputDrainTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Deliver("(output still open after the process exited: a background process holds it; not waiting for it)", _stderr);
        }
    }

    private async Task PumpAsync(StreamReader reader, StringBuilder? capture)
    {
        try
        {
            while (await reader.ReadLineAsync().ConfigureAwait(false) is { } line) Deliver(line, capture);
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // The pipe was closed under the reader: the process was released while a background process held it.
        }
    }

    private void Deliver(string line, StringBuilder? capture)
    {
        switch (_spec.Output)
        {
            case ProcessOutput.CaptureOutput:
                lock (capture!)
                    if (capture.Length < ProcessOutput.CaptureOutput.Limit) capture.Append(line).Append('\n');
                break;
            case ProcessOutput.LineOutput lines:
                lock (_lineLock) lines.Line(lines.Prefix + line);
                break;
            case ProcessOutput.LogFileOutput:
                _log!.WriteLine(line);
                break;
        }
    }

    private static string LastLines(string text)
    {
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return string.Join(" | ", lines.TakeLast(5));
    }
}
