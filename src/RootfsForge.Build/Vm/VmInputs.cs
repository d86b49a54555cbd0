using System.Runtime.Versioning;
using RootfsForge.Sinks;
using RootfsForge.Sinks.Directories;
using RootfsForge.Sources;
using RootfsForge.Sources.Oci;
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
    /// The extraction for an input (anything <see cref="TreeInput"/> opens: a qcow2/raw cloud image read in-process, a
    /// tar, a directory, a <c>.fl</c>, or a container image <c>docker://…</c>, <c>oci:DIR[:TAG]</c>,
    /// <c>docker-archive:FILE</c>). The tree is recreated in the staging root by <see cref="DirectorySink"/> (as root, full
    /// fidelity, never writing outside it). Source warnings go to <paramref name="warn"/>.
    /// </summary>
    /// <param name="input">The input path or image reference.</param>
    /// <param name="warn">Receives the input's warnings.</param>
    /// <param name="options">How the input is opened (platform, blob cache, partition, …).</param>
    /// <exception cref="FileNotFoundException">A local input that does not exist.</exception>
    public static Func<string, CancellationToken, Task> ExtractFrom(string input, Action<string>? warn = null, TreeInputOptions? options = null)
    {
        TreeInput.KindOf(input); // a missing input fails now, not after the build has started
        return async (root, ct) =>
        {
            await using var tree = await TreeInput.OpenAsync(input, options, ct).ConfigureAwait(false);
            await using var sink = new DirectorySink(root, new DirectorySinkOptions { AllowNonEmptyTarget = true });
            await TreeCopy.RunAsync(tree.Tree, sink, null, ct).ConfigureAwait(false);
            foreach (var w in tree.Warnings) warn?.Invoke("warning: " + w);
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

    /// <summary>
    /// The default output name for an input: <c>&lt;image-name&gt;.tar.zst</c> in the current directory; a container
    /// image is named as the 0-hub names it (<see cref="ContainerFlist.Name"/>: <c>docker://debian:12</c> → <c>debian-12</c>).
    /// </summary>
    public static string DefaultOutput(string input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (ImageReference.IsReference(input))
            return Path.Combine(Environment.CurrentDirectory, ContainerFlist.Name(ImageReference.Parse(input)) + ".tar.zst");
        var name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(input)));
        foreach (var ext in new[] { ".tar.zst", ".tar.gz", ".tgz", ".tar.xz", ".tar", ".qcow2", ".img", ".raw" })
            if (name.EndsWith(ext, StringComparison.OrdinalIgnoreCase)) { name = name[..^ext.Length]; break; }
        return Path.Combine(Environment.CurrentDirectory, name + ".tar.zst");
    }
}
