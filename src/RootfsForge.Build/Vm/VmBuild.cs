using System.Diagnostics;
using RootfsForge.IO;
using RootfsForge.Lint;
using RootfsForge.Processes;
using RootfsForge.Steps;

namespace RootfsForge.Vm;

/// <summary>
/// The VM flist pipeline (docs/zos-vm.md §6): input → private staging directory → packages, files, scripts, kernel (in a
/// <see cref="ChrootSession"/>) → ZOS preparation → lint → output → staging removed. The input and the output are
/// delegates so any source/sink pair can be used: <c>extract(stagingRoot, ct)</c> fills the empty staging root with
/// the image's tree (as root, full fidelity); <c>write(stagingRoot, ct)</c> writes the result atomically (it runs only
/// when everything before succeeded, so a failed build leaves no output).
/// </summary>
public static class VmBuild
{
    /// <summary>Runs the pipeline.</summary>
    /// <param name="extract">Fills the empty staging root with the input's tree (see <see cref="VmInputs.ExtractFrom"/>).</param>
    /// <param name="write">Writes the finished tree to the output (see <see cref="VmInputs.WriteTo"/>).</param>
    /// <param name="options">What to do between the two.</param>
    /// <param name="cancellationToken">Stops the running step (a command in the chroot is killed with its process group);
    /// the staging tree is unmounted and removed as on any failure.</param>
    /// <exception cref="ProcessFailedException">A command (package manager, <c>--run</c>, script, initramfs tool) failed.</exception>
    /// <exception cref="LintFailedException">The finished tree fails the lint; nothing was written.</exception>
    public static Task<VmBuildResult> RunAsync(Func<string, CancellationToken, Task> extract,
        Func<string, CancellationToken, Task> write, VmBuildOptions options, CancellationToken cancellationToken = default) =>
        RunPipelineAsync(extract, write, options, null, cancellationToken);

    /// <summary>
    /// The pipeline for a VM (<paramref name="container"/> null) or for a container tree: the same staging root, chroot
    /// session, package, copy and command steps, but the copies and commands run in the order
    /// <paramref name="container"/> lists them, the chroot is entered only when there are package steps or commands, and
    /// there is no kernel step and no ZOS VM preparation (a container runs on ZOS's kernel). <see cref="VmBuildOptions.Copies"/>,
    /// <see cref="VmBuildOptions.Runs"/>, <see cref="VmBuildOptions.RunScripts"/> and the kernel options are ignored then.
    /// </summary>
    internal static async Task<VmBuildResult> RunPipelineAsync(Func<string, CancellationToken, Task> extract,
        Func<string, CancellationToken, Task> write, VmBuildOptions options, IReadOnlyList<TreeStep>? container,
        CancellationToken cancellationToken)
    {
        var total = Stopwatch.StartNew();
        var steps = new List<(string, TimeSpan)>();
        var progress = options.Progress ?? (_ => { });
        string staging = CreateStaging(options);
        string root = Path.Combine(staging, "rootfs");
        bool keep = options.KeepStaging is not null;
        try
        {
            Directory.CreateDirectory(root);
            Task Step(string name, Action body) => StepAsync(name, () =>
            {
                body();
                return Task.CompletedTask;
            });

            async Task StepAsync(string name, Func<Task> body)
            {
                cancellationToken.ThrowIfCancellationRequested();
                progress($"==> {name}");
                var sw = Stopwatch.StartNew();
                await body().ConfigureAwait(false);
                steps.Add((name, sw.Elapsed));
                progress($"    {name}: done in {sw.Elapsed.TotalSeconds:F1} s");
            }

            void Apply(string root, TreeStep step)
            {
                if (step.Copy is { } copy) FileSteps.Copy(root, copy, m => progress("    " + m), cancellationToken);
                else step.Edit!(root);
            }

            await StepAsync("extract", () => extract(root, cancellationToken)).ConfigureAwait(false);
            long before = TreeSize(root);
            progress($"    tree: {before / 1048576.0:F1} MiB in files");

            KernelResult? kernel = null;
            string? hostResolv = ZosRules.ReadBuildHostResolvConf();
            long? epoch = options.SourceDateEpoch?.Invoke(root);
            bool chroot = container is null || options.Install.Count + options.Remove.Count > 0 || container.Any(s => s.Command is not null);
            if (!chroot)
            {
                // A container whose steps are only copies: nothing runs, so no mounts, no resolv.conf, no policy-rc.d.
                foreach (var step in container!)
                    await Step(step.Name, () => Apply(root, step)).ConfigureAwait(false);
            }
            else
            {
                var session = await ChrootSession.EnterAsync(root, new ChrootOptions
                    {
                        Output = options.CommandOutput,
                        Log = m => progress("    " + m),
                        Environment = epoch is long e
                            ? new Dictionary<string, string>(StringComparer.Ordinal) { ["SOURCE_DATE_EPOCH"] = e.ToString(System.Globalization.CultureInfo.InvariantCulture) }
                            : null,
                    })
                    .ConfigureAwait(false);
                await using (session.ConfigureAwait(false)) // unmounts and restores, also on error and cancellation
                {
                    var packages = PackageManager.Detect(root);
                    if (options.Remove.Count + options.Install.Count > 0 && packages is null)
                        throw new InvalidOperationException("--install/--remove: no supported package manager (apt, dnf, yum, apk) in the image");
                    if (options.Remove.Count > 0)
                        await StepAsync("remove packages", () => packages!.RemoveAsync(session, options.Remove, cancellationToken)).ConfigureAwait(false);
                    if (options.Install.Count > 0)
                        await StepAsync("install packages", () => packages!.InstallAsync(session, options.Install, cancellationToken)).ConfigureAwait(false);
                    if (container is not null)
                    {
                        foreach (var step in container)
                        {
                            if (step.Command is { } command)
                                await StepAsync(step.Name, () => FileSteps.RunCommandAsync(session, command, cancellationToken)).ConfigureAwait(false);
                            else
                                await Step(step.Name, () => Apply(root, step)).ConfigureAwait(false);
                        }
                    }
                    else
                    {
                        foreach (var copy in options.Copies)
                            await Step($"copy {copy.Source} -> {copy.Destination}", () => FileSteps.Copy(root, copy, m => progress("    " + m), cancellationToken))
                                .ConfigureAwait(false);
                        foreach (var command in options.Runs)
                            await StepAsync($"run {command}", () => FileSteps.RunCommandAsync(session, command, cancellationToken)).ConfigureAwait(false);
                        foreach (var script in options.RunScripts)
                            await StepAsync($"run-script {script}", () => FileSteps.RunScriptAsync(session, script, cancellationToken)).ConfigureAwait(false);
                        await StepAsync("kernel", async () => kernel = await KernelStep.RunAsync(session, packages, options.Kernel,
                            options.UncompressedKernel, options.KernelDefinitions, m => progress("    " + m), cancellationToken).ConfigureAwait(false))
                            .ConfigureAwait(false);
                    }
                    if (packages is not null && options.Install.Count + options.Remove.Count + (container is null ? 1 : 0) > 0)
                        await StepAsync("clean package cache", () => packages.CleanAsync(session, cancellationToken)).ConfigureAwait(false);
                }
            }

            if (container is null)
                await Step("ZOS preparation", () => ZosPreparation.Run(root, m => progress("    " + m), hostResolv)).ConfigureAwait(false);

            LintReport? report = null;
            if (options.Lint)
            {
                await Step("lint", () =>
                {
                    report = Linter.CheckDirectory(root, container is null ? FlistKind.Vm : FlistKind.Container, cancellationToken);
                    foreach (var f in report.Findings) progress("    " + f);
                }).ConfigureAwait(false);
                if (!report!.Passed) throw new LintFailedException(report);
            }
            long after = TreeSize(root);
            await StepAsync("write output", () => write(root, cancellationToken)).ConfigureAwait(false);
            return new VmBuildResult(steps, before, after, total.Elapsed, kernel, report);
        }
        finally
        {
            if (!keep) await RemoveStagingAsync(staging, progress).ConfigureAwait(false);
            else progress($"staging tree kept at {root}");
        }
    }

    /// <summary>Bytes in regular files below a directory (not following symlinks, not crossing mounts).</summary>
    private static long TreeSize(string root)
    {
        long total = 0;
        var stack = new Stack<string>();
        stack.Push(root);
        while (stack.Count > 0)
        {
            var dir = stack.Pop();
            foreach (var e in new DirectoryInfo(dir).EnumerateFileSystemInfos())
            {
                if (e.LinkTarget is not null) continue;
                if (e is DirectoryInfo d) stack.Push(d.FullName);
                else if (e is FileInfo f) total += f.Length;
            }
        }
        return total;
    }

    private static string CreateStaging(VmBuildOptions options)
    {
        if (options.KeepStaging is { } keep)
        {
            var full = Path.GetFullPath(keep);
            if (Directory.Exists(full) && Directory.EnumerateFileSystemEntries(full).Any())
                throw new IOException($"--keep-staging {full} is not empty");
            if (!Directory.Exists(full))
            {
                using var parent = Posix.OpenAt(null, Path.GetDirectoryName(full)!, Posix.O_RDONLY | Posix.O_DIRECTORY);
                Posix.MkdirAt(parent, Path.GetFileName(full), 0x1C0);
            }
            return full;
        }
        // mkdtemp-like: a new 0700 directory whose creation fails if the name exists.
        using var dir = Posix.OpenAt(null, options.StagingParent, Posix.O_RDONLY | Posix.O_DIRECTORY);
        for (int attempt = 0; ; attempt++)
        {
            var name = $"rootfsforge-vm-{Guid.NewGuid():N}"[..28];
            try
            {
                Posix.MkdirAt(dir, name, 0x1C0);
                return Path.Combine(options.StagingParent, name);
            }
            catch (IOException e) when (Posix.Errno(e) == Posix.EEXIST && attempt < 10)
            {
            }
        }
    }

    private static async Task RemoveStagingAsync(string staging, Action<string> progress)
    {
        var mounts = MountTable.MountsUnder(staging);
        if (mounts.Count > 0)
        {
            progress($"NOT removing {staging}: still mounted: {string.Join(", ", mounts)}");
            return;
        }
        try
        {
            // Nothing is mounted below (checked above); rm never follows symlinks and stays on this filesystem.
            await ProcessRunner.RunAsync(new ProcessSpec("rm", ["-rf", "--one-file-system", "--", staging]), CancellationToken.None)
                .ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ProcessFailedException)
        {
            progress($"could not remove the staging directory {staging}: {e.Message}");
        }
    }
}
