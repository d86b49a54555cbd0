using System.CommandLine;
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
        var run = new Option<string[]>("--run") { Description = "A shell command run in the image (sh -c, in a chroot). Repeatable; runs after --copy." };
        var runScript = new Option<string[]>("--run-script") { Description = "A host script copied into the image, run in the chroot, removed. Repeatable." };
        var kernel = new Option<string?>("--kernel") { Description = "image (default: keep the image's kernel, else install the distro's), a package name, or vmlinuz=PATH[,initrd=PATH]." };
        var noLint = new Option<bool>("--no-lint") { Description = "Do not fail the build on lint errors (the checks are skipped)." };
        var keepStaging = new Option<string?>("--keep-staging") { Description = "Build in this (new or empty) directory and keep the tree there." };
        var uncompressed = new Option<bool>("--uncompressed-kernel") { Description = "Also extract the ELF kernel from the bzImage (for hypervisors without bzImage support) and point /boot/vmlinuz at it." };
        var command = new Command("vm", "Build a ZOS full-VM flist: customise in a chroot, inject kernel and virtiofs initrd, make it ZOS-ready, lint.")
        {
            image, output, install, remove, copy, run, runScript, kernel, noLint, keepStaging, uncompressed,
        };
        var images = new ImageOptions();
        images.AddTo(command);
        var targets = new OutputOptions();
        targets.AddTo(command);
        command.SetAction((parse, _) => CommandRunner.RunAsync(async ct =>
        {
            if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("rootfsforge vm runs on Linux only");
            var input = parse.GetValue(image)!;
            var inputOptions = images.InputOptions(parse, input, quiet: false);
            var outPath = parse.GetValue(output) ?? VmInputs.DefaultOutput(input);
            var clampTime = OutputOptions.ParseClamp(null);
            await using var outputs = targets.Open(parse, outPath, new SinkFactoryOptions { MtimeClamp = clampTime });
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
                    Progress = Console.Error.WriteLine,
                    CommandOutput = Console.Error.WriteLine,
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
            var result = await VmBuild.RunAsync(VmInputs.ExtractFrom(input, Console.Error.WriteLine, inputOptions),
                async (root, token) =>
                {
                    var source = new RootfsForge.Sources.Directories.DirectorySource(root);
                    await using var sink = outputs.CreateSink();
                    await TreeCopy.RunAsync(source, sink, null, token).ConfigureAwait(false);
                    written = sink;
                }, options, ct).ConfigureAwait(false);
            foreach (var w in written!.Statistics.Warnings) Console.Error.WriteLine($"rootfsforge: warning: {w}");
            await outputs.FinishAsync(written, quiet: false, ct).ConfigureAwait(false);
            Console.Error.WriteLine();
            Console.Error.WriteLine("summary:");
            foreach (var (step, duration) in result.Steps) Console.Error.WriteLine($"  {duration.TotalSeconds,8:F1} s  {step}");
            Console.Error.WriteLine($"  size: {result.SizeBefore / 1048576.0:F1} MiB before, {result.SizeAfter / 1048576.0:F1} MiB after");
            if (result.Kernel is { } k) Console.Error.WriteLine($"  kernel: /boot/vmlinuz -> /{k.Kernel}{(k.Initrd is null ? "" : $", /boot/initrd.img -> /{k.Initrd}")}");
            if (result.Lint is { } l)
                Console.Error.WriteLine($"  lint: passed ({l.Findings.Count(f => !f.Passed && f.Severity == Lint.LintSeverity.Warning)} warning(s))");
            Console.Error.WriteLine($"  output: {(outputs.Spec.Kind is OutputKind.Hub or OutputKind.StandardOutput ? outputs.Spec.ToString() : Path.GetFullPath(outputs.Spec.Path))}");
            Console.Error.WriteLine($"  total: {result.Elapsed.TotalSeconds:F1} s");
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static IReadOnlyList<string> SplitList(string[]? values) =>
        (values ?? []).SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
}
