using System.CommandLine;
using RootfsForge.Lint;

namespace RootfsForge.Cli.Commands;

/// <summary><c>rootfsforge lint TREE|TAR</c>: the ZOS full-VM checks of docs/zos-vm.md §7.</summary>
internal static class LintCommand
{
    public static Command Create()
    {
        var target = new Argument<string>("TREE|TAR") { Description = "A directory tree or a tar (.tar, .tar.gz, .tar.zst) of a VM flist." };
        var command = new Command("lint", "Check that a tree boots as a ZOS full VM (kernel, virtiofs initrd, /boot paths, cloud-init, hygiene).") { target };
        command.SetAction((parse, _) => CommandRunner.RunAsync(async ct =>
        {
            var path = parse.GetValue(target)!;
            LintReport report;
            if (Directory.Exists(path))
            {
                if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("linting a directory needs Linux; lint a tar instead");
                report = Linter.CheckDirectory(path, ct);
            }
            else if (File.Exists(path)) report = await LintTarAsync(path, ct).ConfigureAwait(false);
            else throw new UsageException($"{path}: no such file or directory");
            foreach (var f in report.Findings) Console.WriteLine(f);
            var errors = report.Errors.Count();
            Console.WriteLine(errors == 0 ? "lint: passed" : $"lint: {errors} error(s)");
            return errors == 0 ? ExitCodes.Ok : ExitCodes.Failure;
        }));
        return command;
    }

    /// <summary>A tar is read in place (metadata indexed, file contents read on demand), never unpacked.</summary>
    private static async Task<LintReport> LintTarAsync(string path, CancellationToken ct)
    {
        using var source = new Tar.TarArchiveSource(path);
        return await Linter.CheckSourceAsync(source, ct).ConfigureAwait(false);
    }
}
