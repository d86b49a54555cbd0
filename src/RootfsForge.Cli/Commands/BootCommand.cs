using System.CommandLine;
using RootfsForge.Boot;

namespace RootfsForge.Cli.Commands;

/// <summary>
/// <c>rootfsforge boot TREE|TAR</c>: boots a VM flist like ZOS does, under qemu TCG (docs/zos-vm.md §8.1).
/// </summary>
internal static class BootCommand
{
    public static Command Create()
    {
        var target = new Argument<string>("TREE|TAR") { Description = "A directory tree or a tar (.tar, .tar.gz, .tar.zst) of a VM flist." };
        var timeout = new Option<int>("--timeout") { Description = "Seconds to wait for a login prompt (TCG is slow).", DefaultValueFactory = _ => 600, HelpName = "SECONDS" };
        var consoleLog = new Option<string?>("--console-log") { Description = "Where to save the serial console log (default: a file in the temporary directory).", HelpName = "FILE" };
        var command = new Command("boot", "Boot a VM flist with its own kernel and initrd, root over virtio-fs (tag vroot), a ZOS-like cidata disk; succeed at the login prompt.")
        {
            target, timeout, consoleLog,
        };
        var report = new ReportOptions(json: false);
        report.AddTo(command);
        command.SetAction((parse, _) => CommandRunner.RunAsync(async ct =>
        {
            if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("rootfsforge boot runs on Linux only");
            var r = report.Get(parse);
            var path = parse.GetValue(target)!;
            var options = new BootTestOptions
            {
                Timeout = TimeSpan.FromSeconds(parse.GetValue(timeout)),
                ConsoleLog = parse.GetValue(consoleLog),
                Progress = r.Quiet ? null : Console.Error.WriteLine,
            };
            BootResult result;
            if (Directory.Exists(path)) result = await BootTest.RunAsync(path, options, ct).ConfigureAwait(false);
            else if (File.Exists(path))
            {
                var dir = Directory.CreateTempSubdirectory("rootfsforge-boot-tree-");
                try
                {
                    await Vm.VmInputs.ExtractFrom(path)(dir.FullName, ct).ConfigureAwait(false);
                    result = await BootTest.RunAsync(dir.FullName, options, ct).ConfigureAwait(false);
                }
                finally
                {
                    dir.Delete(recursive: true);
                }
            }
            else throw new UsageException($"{path}: no such file or directory");
            Console.WriteLine($"boot: {(result.Success ? "OK" : "FAILED")} after {result.Elapsed.TotalSeconds:F0} s: {result.Reason}");
            Console.WriteLine($"boot: console log {result.ConsoleLog}");
            return result.Success ? ExitCodes.Ok : ExitCodes.Failure;
        }));
        return command;
    }
}
