namespace RootfsForge.Cli;

/// <summary>Runs a command body and turns exceptions into one clear message and an exit code.</summary>
internal static class CommandRunner
{
    /// <summary>Runs <paramref name="body"/> with a token cancelled by Ctrl-C/SIGTERM; maps errors to exit codes.</summary>
    public static int Run(Func<CancellationToken, int> body)
    {
        using var cts = new CancellationTokenSource();
        using var sigint = System.Runtime.InteropServices.PosixSignalRegistration.Create(
            System.Runtime.InteropServices.PosixSignal.SIGINT, ctx => { ctx.Cancel = true; cts.Cancel(); });
        using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(
            System.Runtime.InteropServices.PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; cts.Cancel(); });
        try
        {
            return body(cts.Token);
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
        catch (UsageException e)
        {
            Console.Error.WriteLine($"rootfsforge: {e.Message}");
            return ExitCodes.Usage;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException
                                      or System.Net.Http.HttpRequestException)
        {
            Console.Error.WriteLine($"rootfsforge: {e.Message}");
            return ExitCodes.Failure;
        }
    }
}

/// <summary>A command-line mistake the parser cannot catch (conflicting options, a malformed value).</summary>
internal sealed class UsageException(string message) : Exception(message);
