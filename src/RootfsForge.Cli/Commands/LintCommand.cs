using System.CommandLine;
using RootfsForge.Cli.Json;
using RootfsForge.Lint;

namespace RootfsForge.Cli.Commands;

/// <summary><c>rootfsforge lint TREE|TAR</c>: the ZOS full-VM checks of zos-vm.md §7.</summary>
internal static class LintCommand
{
    public static Command Create()
    {
        var target = new Argument<string>("TREE|TAR") { Description = "A directory tree or a tar (.tar, .tar.gz, .tar.zst) of a VM flist." };
        var command = new Command("lint", "Check that a tree boots as a ZOS full VM (kernel, virtiofs initrd, /boot paths, cloud-init, hygiene). Exits 4 when a check fails.") { target };
        var report = new ReportOptions();
        report.AddTo(command);
        command.SetAction((parse, _) => CommandRunner.RunAsync(async ct =>
        {
            var r = report.Get(parse);
            var path = parse.GetValue(target)!;
            LintReport lint;
            if (Directory.Exists(path))
            {
                if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("linting a directory needs Linux; lint a tar instead");
                lint = Linter.CheckDirectory(path, ct);
            }
            else if (File.Exists(path)) lint = await LintTarAsync(path, ct).ConfigureAwait(false);
            else throw new UsageException($"{path}: no such file or directory");
            var errors = lint.Errors.Count();
            if (r.Json)
                r.Result(new LintCommandResult(JsonResultWriter.Schema("lint"), path, Results.Lint(lint)), CliJson.Default.LintCommandResult);
            else if (!r.Quiet)
            {
                foreach (var f in lint.Findings) Console.WriteLine(f);
                Console.WriteLine(errors == 0 ? "lint: passed" : $"lint: {errors} error(s)");
            }
            return errors == 0 ? ExitCodes.Ok : ExitCodes.LintFailed;
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
