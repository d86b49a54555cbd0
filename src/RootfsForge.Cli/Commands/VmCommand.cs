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
        var image = new Argument<string>("IMAGE") { Description = ImageOptions.InputDescription };
        var output = new Option<string?>("--output", "-o") { Description = "Output: .tar, .tar.gz, .tar.zst, X.fl (with --store), hub:NAME (with --hub) or a new directory (written atomically; nothing on failure). Default: <image-name>.tar.zst in the current directory." };
        var install = new Option<string[]>("--install") { Description = "Packages to install with the image's package manager (repeatable, or comma-separated).", AllowMultipleArgumentsPerToken = true };
        var remove = new Option<string[]>("--remove") { Description = "Packages to remove (repeatable, or comma-separated).", AllowMultipleArgumentsPerToken = true };
        var copy = new Option<string[]>("--copy") { Description = "Copy a host file or folder into the image: SRC:DST[:UID:GID[:MODE]] (MODE octal, e.g. ./motd:/etc/motd:0:0:0644). Repeatable." };
        // Our --run is a command, as virt-customize's --run-command (its --run is a script: our --run-script).
        var run = new Option<string[]>("--run", "--run-command") { Description = "A shell command run in the image (sh -c, in a chroot). Repeatable; runs after --copy." };
        var runScript = new Option<string[]>("--run-script") { Description = "A host script copied into the image, run in the chroot, removed. Repeatable." };
        var kernel = new Option<string?>("--kernel") { Description = "image (default: keep the image's kernel, else install the distro's), a package name, or vmlinuz=PATH[,initrd=PATH]." };
        var noLint = new Option<bool>("--no-lint") { Description = "Skip the ZOS lint (by default a build whose tree fails it writes nothing and exits 4)." };
        var clamp = new Option<string?>("--mtime-clamp")
        {
            Description = "Clamp every mtime to this time (Unix seconds or ISO 8601); defaults to $SOURCE_DATE_EPOCH when set.",
        };
        var keepStaging = new Option<string?>("--keep-staging") { Description = "Build in this (new or empty) directory and keep the tree there." };
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
