using System.CommandLine;
using RootfsForge.Cli.Json;
using RootfsForge.Lint;
using RootfsForge.Sources.Oci;

namespace RootfsForge.Cli.Commands;

/// <summary><c>rootfsforge lint INPUT</c>: the ZOS checks of docs/zos-vm.md §7, for a full VM or a container flist.</summary>
internal static class LintCommand
{
    public static Command Create()
    {
        var target = new Argument<string>("INPUT") { Description = ImageOptions.InputDescription };
        var kind = new Option<string?>("--kind")
        {
            Description = "Check as a 'vm' or a 'container' flist (default: a tree with /boot/vmlinuz is a VM, any other a container).",
        };
        kind.AcceptOnlyFromAmong("vm", "container");
        var command = new Command("lint", "Check that a tree runs on ZOS: as a full VM (kernel, virtiofs initrd, /boot paths, cloud-init, hygiene) or as a container (no kernel, the entrypoint exists); exit 4 when a check fails.")
        {
            target, kind,
        };
        var images = new ImageOptions();
        images.AddTo(command);
        var report = new ReportOptions(schema: "lint");
        report.AddTo(command);
        command.SetAction((parse, _) => CommandRunner.RunAsync(async ct =>
        {
            var r = report.Get(parse);
            var path = parse.GetValue(target)!;
            FlistKind? as_ = parse.GetValue(kind) switch { "vm" => FlistKind.Vm, "container" => FlistKind.Container, _ => null };
            LintReport lint;
            if (ImageOptions.CheckInput(path) == Sources.TreeInputKind.Directory)
            {
                if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("linting a directory needs Linux; lint a tar instead");
                lint = Linter.CheckDirectory(path, as_, ct);
            }
            else
            {
                // Tars, images and .fl files are read in place: metadata indexed, file contents read on demand.
                await using var input = await images.OpenInputAsync(parse, path, r.Quiet || r.Json, ct).ConfigureAwait(false);
                // A container image is checked as the container flist made of it: with its /.startup.toml.
                var tree = input.ContainerImage is not null ? ContainerFlist.Tree((OciTreeSource)input.Tree) : input.Tree;
                lint = await Linter.CheckSourceAsync(tree, as_, ct).ConfigureAwait(false);
            }
            var errors = lint.Errors.Count();
            if (r.Json)
                r.Result(new LintCommandResult(JsonResultWriter.Schema("lint"), path, KindName(lint.Kind), Results.Lint(lint)), CliJson.Default.LintCommandResult);
            else if (!r.Quiet)
                Print(lint);
            return errors == 0 ? ExitCodes.Ok : ExitCodes.LintFailed;
        }));
        return command;
    }

    /// <summary>Every finding, then the verdict, on stdout.</summary>
    internal static void Print(LintReport report)
    {
        foreach (var f in report.Findings) Console.WriteLine(f);
        var errors = report.Errors.Count();
        string kind = KindName(report.Kind);
        Console.WriteLine(errors == 0 ? $"lint ({kind}): passed" : $"lint ({kind}): {errors} error(s)");
    }

    internal static string KindName(FlistKind kind) => kind == FlistKind.Vm ? "vm" : "container";
}
