using System.Diagnostics;
using RootfsForge.IO;
using RootfsForge.Lint;
using RootfsForge.Steps;

namespace RootfsForge.Vm;

/// <summary>
/// The VM flist pipeline (issue 4): input → private staging directory → packages, files, scripts, kernel (in a
/// <see cref="ChrootSession"/>) → ZOS preparation → lint → output → staging removed. The input and the output are
/// delegates so any source/sink pair can be used: <c>extract(stagingRoot, ct)</c> fills the empty staging root with
/// the image's tree (as root, full fidelity); <c>write(stagingRoot, ct)</c> writes the result atomically (it runs only
/// when everything before succeeded, so a failed build leaves no output).
/// </summary>
public static class VmBuild
{
    /// <summary>Runs the pipeline.</summary>
    public static async Task<VmBuildResult> RunAsync(Func<string, CancellationToken, Task> extract,
        Func<string, CancellationToken, Task> write, VmBuildOptions options, CancellationToken cancellationToken = default)
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
            void Step(string name, Action body)
            {
                cancellationToken.ThrowIfCancellationRequested();
                progress($"==> {name}");
                var sw = Stopwatch.StartNew();
                body();
                steps.Add((name, sw.Elapsed));
                progress($"    {name}: done in {sw.Elapsed.TotalSeconds:F1} s");
            }

            async Task StepAsync(string name, Func<Task> body)
            {
                cancellationToken.ThrowIfCancellationRequested();
                progress($"==> {name}");
                var sw = Stopwatch.StartNew();
                await body().ConfigureAwait(false);
                steps.Add((name, sw.Elapsed));
                progress($"    {name}: done in {sw.Elapsed.TotalSeconds:F1} s");
            }

            await StepAsync("extract", () => extract(root, cancellationToken)).ConfigureAwait(false);
            long before = TreeSize(root);
            progress($"    tree: {before / 1048576.0:F1} MiB in files");

            KernelResult? kernel = null;
            string? hostResolv = ZosPreparation.ReadHostResolvConf();
            using (var session = ChrootSession.Enter(root, new ChrootOptions { Output = options.CommandOutput, Log = m => progress("    " + m) }))
            {
                var packages = PackageManager.Detect(root);
                if (options.Remove.Count + options.Install.Count > 0 && packages is null)
                    throw new InvalidOperationException("--install/--remove: no supported package manager (apt, dnf, yum, apk) in the image");
                if (options.Remove.Count > 0) Step("remove packages", () => packages!.Remove(session, options.Remove, cancellationToken));
                if (options.Install.Count > 0) Step("install packages", () => packages!.Install(session, options.Install, cancellationToken));
                foreach (var copy in options.Copies)
                    Step($"copy {copy.Source} -> {copy.Destination}", () => FileSteps.Copy(root, copy, m => progress("    " + m), cancellationToken));
                foreach (var command in options.Runs)
                    Step($"run {command}", () => FileSteps.RunCommand(session, command, cancellationToken));
                foreach (var script in options.RunScripts)
                    Step($"run-script {script}", () => FileSteps.RunScript(session, script, cancellationToken));
                Step("kernel", () => kernel = KernelStep.Run(session, packages, options.Kernel, options.UncompressedKernel,
                    m => progress("    " + m), cancellationToken));
                if (packages is not null) Step("clean package cache", () => packages.Clean(session, cancellationToken));
            } // unmounts and restores, also on error and cancellation

            Step("ZOS preparation", () => ZosPreparation.Run(root, m => progress("    " + m), hostResolv));

            LintReport? report = null;
            if (options.Lint)
            {
                Step("lint", () =>
                {
                    report = Linter.CheckDirectory(root, cancellationToken);
                    foreach (var f in report.Findings) progress("    " + f);
                });
                if (!report!.Passed) throw new LintFailedException(report);
            }
            long after = TreeSize(root);
            await StepAsync("write output", () => write(root, cancellationToken)).ConfigureAwait(false);
            return new VmBuildResult(steps, before, after, total.Elapsed, kernel, report);
        }
        finally
        {
            if (!keep) RemoveStaging(staging, progress);
            else progress($"staging tree kept at {root}");
        }
    }

    /// <summary>Bytes in regular files below a directory (not following symlinks, not crossing mounts).</summary>
    public static long TreeSize(string root)
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

    private static void RemoveStaging(string staging, Action<string> progress)
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
            HostTool.Run("rm", ["-rf", "--one-file-system", "--", staging], CancellationToken.None);
        }
        catch (IOException e)
        {
            progress($"could not remove the staging directory {staging}: {e.Message}");
        }
    }
}
