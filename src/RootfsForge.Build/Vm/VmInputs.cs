using System.Runtime.Versioning;
using RootfsForge.Sinks;
using RootfsForge.Sinks.Directories;
using RootfsForge.Tar;
using RootfsForge.Sources.Directories;
using RootfsForge.Tree;

namespace RootfsForge.Vm;

/// <summary>
/// Ready-made input and output delegates for <see cref="VmBuild.RunAsync"/>, built on the library's sources and sinks.
/// </summary>
[SupportedOSPlatform("linux")]
public static class VmInputs
{
    /// <summary>
    /// The extraction for an input path: a directory (<see cref="DirectorySource"/>), a tar archive, optionally
    /// compressed (<see cref="TarArchiveSource"/>), or a qcow2/raw cloud image (<see cref="CloudImage"/>, read in-process).
    /// The tree is recreated in the staging root by <see cref="DirectorySink"/> (as root, full fidelity, never writing
    /// outside it). Source warnings go to <paramref name="warn"/>.
    /// </summary>
    public static Func<string, CancellationToken, Task> ExtractFrom(string input, Action<string>? warn = null)
    {
        var full = Path.GetFullPath(input);
        if (!Directory.Exists(full) && !File.Exists(full)) throw new FileNotFoundException($"input {input} does not exist");
        return async (root, ct) =>
        {
            await using var sink = new DirectorySink(root, new DirectorySinkOptions { AllowNonEmptyTarget = true });
            if (Directory.Exists(full))
            {
                var source = new DirectorySource(full);
                await TreeCopy.RunAsync(source, sink, null, ct).ConfigureAwait(false);
                Report(source.Warnings, warn);
            }
            else if (IsTar(full))
            {
                using var source = new TarArchiveSource(full);
                await TreeCopy.RunAsync(source, sink, null, ct).ConfigureAwait(false);
                Report(source.Warnings, warn);
            }
            else
            {
                using var image = CloudImage.Open(full);
                await TreeCopy.RunAsync(image.FileSystem, sink, null, ct).ConfigureAwait(false);
                Report(image.Warnings, warn);
                Report(image.FileSystem.Warnings, warn);
            }
        };
    }

    /// <summary>
    /// The output writer for a path, through <see cref="SinkFactory"/>: <c>*.tar</c>, <c>*.tar.gz</c>/<c>*.tgz</c>,
    /// <c>*.tar.zst</c> (written under a temporary name and renamed into place), else a new directory. The staging tree is
    /// read with <see cref="DirectorySource"/> (not crossing mount points).
    /// </summary>
    /// <param name="output">The output.</param>
    /// <param name="options">Sink options (stores for <c>.fl</c>, the hub client for <c>hub:NAME</c>).</param>
    /// <param name="completed">Called with the finished sink, e.g. to report its statistics and warnings.</param>
    public static Func<string, CancellationToken, Task> WriteTo(OutputSpec output, SinkFactoryOptions? options = null,
        Action<TreeSink>? completed = null) =>
        async (root, ct) =>
        {
            var source = new DirectorySource(root);
            await using var sink = SinkFactory.Create(output, options);
            await TreeCopy.RunAsync(source, sink, null, ct).ConfigureAwait(false);
            completed?.Invoke(sink);
        };

    /// <summary>The default output name for an input: <c>&lt;image-name&gt;.tar.zst</c> in the current directory.</summary>
    public static string DefaultOutput(string input)
    {
        var name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(input)));
        foreach (var ext in new[] { ".tar.zst", ".tar.gz", ".tgz", ".tar.xz", ".tar", ".qcow2", ".img", ".raw" })
            if (name.EndsWith(ext, StringComparison.OrdinalIgnoreCase)) { name = name[..^ext.Length]; break; }
        return Path.Combine(Environment.CurrentDirectory, name + ".tar.zst");
    }

    private static void Report(IReadOnlyList<string> warnings, Action<string>? warn)
    {
        foreach (var w in warnings) warn?.Invoke("warning: " + w);
    }

    private static bool IsTar(string path) =>
        new[] { ".tar", ".tar.gz", ".tgz", ".tar.zst" }.Any(e => path.EndsWith(e, StringComparison.OrdinalIgnoreCase));
}
