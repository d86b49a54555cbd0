using System.Runtime.InteropServices;
using RootfsForge.Sources.Oci;

namespace RootfsForge.Cli;

/// <summary>Runs a command body and turns exceptions into one clear message and an exit code.</summary>
internal static class CommandRunner
{
    /// <summary>errno EPIPE: the reader of standard output went away.</summary>
    private const int BrokenPipe = 32;

    /// <summary>Runs <paramref name="body"/> with a token cancelled by Ctrl-C/SIGTERM; maps errors to exit codes.</summary>
    public static async Task<int> RunAsync(Func<CancellationToken, Task<int>> body)
    {
        using var cts = new CancellationTokenSource();
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, ctx => { ctx.Cancel = true; cts.Cancel(); });
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; cts.Cancel(); });
        try
        {
            return await body(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            Console.Error.WriteLine("rootfsforge: interrupted; partial output removed");
            return ExitCodes.Interrupted;
        }
        catch (ImageFormatException e)
        {
            Console.Error.WriteLine($"rootfsforge: {(e.ImagePath is null ? "" : e.ImagePath + ": ")}{e.Message}");
            return ExitCodes.BadInput;
        }
        catch (RegistryException e)
        {
            // Deliberately not exit 3: a registry that refuses (401/403, an unknown repository, tag or blob, retries on
            // 429/5xx used up) or cannot be reached says nothing about the image, and the same command may work later,
            // with credentials or against another registry. Corrupt or mismatching content from a registry is an
            // ImageFormatException (exit 3) instead.
            Console.Error.WriteLine($"rootfsforge: {e.Message}");
            return ExitCodes.Failure;
        }
        catch (RootfsForge.Vm.LintFailedException e)
        {
            Console.Error.WriteLine($"rootfsforge: {e.Message}");
            return ExitCodes.LintFailed;
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"rootfsforge: {e.Message}");
            return ExitCodes.Usage;
        }
        catch (IOException e) when (e.HResult == BrokenPipe)
        {
            Console.Error.WriteLine("rootfsforge: output closed (broken pipe); the output is incomplete");
            return ExitCodes.Failure;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException
                                      or HttpRequestException)
        {
            Console.Error.WriteLine($"rootfsforge: {e.Message}");
            return ExitCodes.Failure;
        }
    }

    /// <summary>
    /// The process's standard output as a stream that reports a reader that went away (EPIPE) as an
    /// <see cref="IOException"/>: <see cref="Console.OpenStandardOutput()"/> pretends such writes succeeded.
    /// </summary>
    public static Stream OpenStandardOutput()
    {
        var stream = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(1, ownsHandle: false), FileAccess.Write, bufferSize: 0);
        if (!stream.CanSeek) return stream;
        // A regular file (`> out.json`): FileStream writes it with pwrite at a position of its own and leaves the descriptor's
        // offset where it was, so what the next writer sharing it (the next command of `{ a; b; } > f`) writes lands on top.
        // Console's stream writes with write(2), and a file has no reader to go away.
        stream.Dispose();
        return Console.OpenStandardOutput();
    }
}

/// <summary>A command-line mistake the parser cannot catch (conflicting options, a malformed value).</summary>
internal sealed class UsageException(string message) : Exception(message)
{
    /// <summary>The usage error for a library's <see cref="ArgumentException"/>, without its " (Parameter 'x')" suffix.</summary>
    public static UsageException From(ArgumentException e) =>
        new(e.ParamName is null ? e.Message : e.Message.Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal));
}
