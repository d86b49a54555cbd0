using System.Diagnostics;

namespace RootfsForge.Vm;

/// <summary>Runs a host program to completion; killed (with its children) on cancellation; throws on failure.</summary>
internal static class HostTool
{
    public static void Run(string file, IReadOnlyList<string> args, CancellationToken cancellationToken)
    {
        var psi = new ProcessStartInfo(file) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {file}");
        var stderr = p.StandardError.ReadToEndAsync(CancellationToken.None);
        var stdout = p.StandardOutput.ReadToEndAsync(CancellationToken.None);
        using (cancellationToken.Register(() => { try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { } }))
            p.WaitForExit();
        cancellationToken.ThrowIfCancellationRequested();
        if (p.ExitCode != 0)
            throw new IOException($"{file} {string.Join(' ', args)} failed ({p.ExitCode}): {stderr.Result.Trim()} {stdout.Result.Trim()}".Trim());
    }
}
