using System.CommandLine;
using RootfsForge.Cli.Json;
using RootfsForge.Sinks;
using RootfsForge.Steps;
using RootfsForge.Tree;
using RootfsForge.Vm;

namespace RootfsForge.Cli.Commands;

/// <summary><c>rootfsforge vm IMAGE</c>: builds a ZOS full-VM flist (docs/zos-vm.md §6).</summary>
internal static class VmCommand
{
    public static Command Create()
    {
        var image = new Argument<string>("INPUT") { Description = ImageOptions.InputDescription };
        var output = new Option<string?>("--output", "-o")
        {
            Description = OutputOptions.OutputDescription + "; nothing is written when a step or the lint fails (default: NAME.tar.zst in the " +
                          "current directory, NAME the input's file name without its extension).",
            HelpName = "OUTPUT",
        };
        var install = new Option<string[]>("--install") { Description = "Packages to install with the image's package manager (repeatable, or comma-separated).", AllowMultipleArgumentsPerToken = true, HelpName = "PACKAGES" };
        var remove = new Option<string[]>("--remove") { Description = "Packages to remove (repeatable, or comma-separated).", AllowMultipleArgumentsPerToken = true, HelpName = "PACKAGES" };
        var copy = new Option<string[]>("--copy") { Description = "Copy a host file or folder into the image: SRC:DST[:UID:GID[:MODE]] (MODE octal, e.g. ./motd:/etc/motd:0:0:0644) (repeatable).", HelpName = "SPEC" };
        // Our --run is a command, as virt-customize's --run-command (its --run is a script: our --run-script).
        var run = new Option<string[]>("--run", "--run-command") { Description = "A shell command run in the image (sh -c, in a chroot) after --copy (repeatable).", HelpName = "COMMAND" };
        var runScript = new Option<string[]>("--run-script") { Description = "A host script copied into the image, run in the chroot, then removed (repeatable).", HelpName = "FILE" };
        var kernel = new Option<string?>("--kernel") { Description = "The kernel: image (keep the image's kernel, else install the distro's), a package name, or vmlinuz=PATH[,initrd=PATH] (default: image).", HelpName = "KERNEL" };
        var noLint = new Option<bool>("--no-lint") { Description = "Skip the ZOS VM checks (see 'lint'). By default they run and a tree that fails them is not written (exit 4)." };
        var clamp = OutputOptions.MtimeClampOption();
        var keepStaging = new Option<string?>("--keep-staging") { Description = "Build in this directory (new or empty) and keep the tree there.", HelpName = "DIR" };
        var uncompressed = new Option<bool>("--uncompressed-kernel") { Description = "Also extract the ELF kernel from the bzImage (for hypervisors without bzImage support) and point /boot/vmlinuz at it." };
        var command = new Command("vm", "Build a ZOS full-VM flist: customise in a chroot, inject kernel and virtiofs initrd, make it ZOS-ready, lint.")
        {
            image, output, install, remove, copy, run, runScript, kernel, noLint, keepStaging, uncompressed, clamp,
        };
        var images = new ImageOptions();
        images.AddTo(command);
        var report = new ReportOptions(schema: "vm");
        report.AddTo(command);
        var targets = new OutputOptions();
        targets.AddTo(command);
        command.SetAction((parse, _) => CommandRunner.RunAsync(async ct =>
        {
            if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("rootfsforge vm runs on Linux only");
            var r = report.Get(parse);
            var input = parse.GetValue(image)!;
            var inputOptions = images.InputOptions(parse, input, quiet: r.Quiet || r.Json);
            var outPath = parse.GetValue(output) ?? VmInputs.DefaultOutput(input);
            var clampTime = OutputOptions.ParseClamp(parse.GetValue(clamp));
            await using var outputs = targets.Open(parse, outPath, new SinkFactoryOptions { MtimeClamp = clampTime });
            r.CheckOutput(outputs.Spec);
            VmBuildOptions options;
            try
            {
                options = new VmBuildOptions
                {
                    Install = SplitList(parse.GetValue(install)),
                    Remove = SplitList(parse.GetValue(remove)),
                    Copies = (parse.GetValue(copy) ?? []).Select(CopySpec.Parse).ToList(),
                    Runs = parse.GetValue(run) ?? [],
                    RunScripts = (parse.GetValue(runScript) ?? []).Select(s => File.Exists(s) ? s : throw new UsageException($"--run-script {s}: no such file")).ToList(),
                    Kernel = KernelChoice.Parse(parse.GetValue(kernel) ?? "image"),
                    UncompressedKernel = parse.GetValue(uncompressed),
                    Lint = !parse.GetValue(noLint),
                    KeepStaging = parse.GetValue(keepStaging),
                    Progress = VmSteps.Lines(r),
                    CommandOutput = r.Quiet ? null : Console.Error.WriteLine,
                };
            }
            catch (FormatException e)
            {
                throw new UsageException(e.Message);
            }
            foreach (var f in new[] { options.Kernel.HostKernel, options.Kernel.HostInitrd })
                if (f is not null && !File.Exists(f)) throw new UsageException($"--kernel: {f}: no such file");
            foreach (var c in options.Copies)
                if (!File.Exists(c.Source) && !Directory.Exists(c.Source)) throw new UsageException($"--copy {c.Source}: no such file or folder");
            TreeSink? written = null;
            TimeSpan copyTime = default;
            VmBuildResult result;
            try
            {
                result = await VmBuild.RunAsync(VmInputs.ExtractFrom(input, VmSteps.SourceWarning(r), inputOptions),
                    async (root, token) =>
                    {
                        var source = new RootfsForge.Sources.Directories.DirectorySource(root);
                        await using var sink = outputs.CreateSink();
                        using var progress = r.Progress(0);
                        await TreeCopy.RunAsync(source, sink, progress, token).ConfigureAwait(false);
                        copyTime = progress.Elapsed;
                        written = sink;
                    }, options, ct).ConfigureAwait(false);
            }
            catch (LintFailedException e) when (r.Json)
            {
                r.Result(VmSteps.Document(input, null, null, null, r, e.Report, e.Message), CliJson.Default.VmResult);
                throw;
            }
            r.WarnAll(written!.Statistics.Warnings);
            await outputs.FinishAsync(written, r.Quiet, ct).ConfigureAwait(false);
            VmSteps.PrintSummary(r, result, outputs.Spec);
            if (r.Json)
                r.Result(VmSteps.Document(input, result, await Results.OutputAsync(outputs, written, ct).ConfigureAwait(false),
                    written.Statistics, r, result.Lint, null), CliJson.Default.VmResult);
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static IReadOnlyList<string> SplitList(string[]? values) =>
        (values ?? []).SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
}
