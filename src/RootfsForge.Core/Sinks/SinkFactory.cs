using RootfsForge.Hub;
using RootfsForge.Sinks.Hub;
using RootfsForge.Sinks.Directories;
using RootfsForge.Sinks.Flist;
using RootfsForge.Sinks.Tar;
using RootfsForge.Tree;

namespace RootfsForge.Sinks;

/// <summary>Chooses a sink from an output name, the way the CLI's <c>-o</c> does.</summary>
public static class SinkFactory
{
    /// <summary>
    /// Creates the sink for <paramref name="output"/>: <c>-</c> writes an uncompressed tar to standard output;
    /// <c>*.tar</c>, <c>*.tar.gz</c>/<c>*.tgz</c> and <c>*.tar.zst</c> write a (compressed) tar file through a temporary
    /// name; <c>*.fl</c> writes an rfs v2 flist whose blocks go to <see cref="SinkOptions.Stores"/>; <c>hub:NAME</c>
    /// streams a tar.gz to the 0-hub through <see cref="SinkOptions.Hub"/>; anything else is a directory to recreate the
    /// tree in.
    /// </summary>
    /// <exception cref="ArgumentException">A <c>.fl</c> output without stores, or a <c>hub:</c> output without a client
    /// or name.</exception>
    /// <param name="output">The output name.</param>
    /// <param name="options">Options; <c>null</c> for defaults.</param>
    public static TreeSink Create(string output, SinkOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(output);
        options ??= new SinkOptions();
        switch (Classify(output))
        {
            case OutputKind.StandardOutput:
                return new TarSink(options.StandardOutput ?? Console.OpenStandardOutput(), TarOptions(options, TarCompression.None),
                    leaveOpen: true);
            case OutputKind.Tar:
                return TarSink.CreateFile(output, TarOptions(options, TarCompression.None));
            case OutputKind.TarGzip:
                return TarSink.CreateFile(output, TarOptions(options, TarCompression.Gzip));
            case OutputKind.TarZstd:
                return TarSink.CreateFile(output, TarOptions(options, TarCompression.Zstd));
            case OutputKind.Flist:
                if (options.Stores.Count == 0)
                    throw new ArgumentException($"the output '{output}' is a .fl flist: it needs at least one block store", nameof(options));
                return new FlistSink(output, new FlistSinkOptions { Stores = options.Stores, Tags = options.Tags, MtimeClamp = options.MtimeClamp });
            case OutputKind.Hub:
                string name = output[HubPrefix.Length..];
                if (name.Length == 0) throw new ArgumentException("hub: output needs a flist name (hub:NAME)", nameof(output));
                if (options.Hub is null)
                    throw new ArgumentException($"the output '{output}' uploads to the hub: it needs a hub client (--hub)", nameof(options));
                return new HubSink(options.Hub, name, TarOptions(options, TarCompression.Gzip));
            default:
                return new DirectorySink(output, new DirectorySinkOptions { AllowNonEmptyTarget = options.AllowNonEmptyDirectory });
        }
    }

    private static TarSinkOptions TarOptions(SinkOptions o, TarCompression compression) => new()
    {
        Compression = compression,
        MtimeClamp = o.MtimeClamp,
        CompressionLevel = o.CompressionLevel,
        CompressionThreads = o.CompressionThreads,
    };

    /// <summary>The prefix of hub outputs: <c>hub:NAME</c>.</summary>
    public const string HubPrefix = "hub:";

    /// <summary>Whether <paramref name="output"/> names a <c>.fl</c> flist.</summary>
    public static bool IsFlist(string output) => Classify(output) == OutputKind.Flist;

    /// <summary>Whether <paramref name="output"/> names a hub upload (<c>hub:NAME</c>).</summary>
    public static bool IsHub(string output) => Classify(output) == OutputKind.Hub;

    private static OutputKind Classify(string output)
    {
        if (output == "-") return OutputKind.StandardOutput;
        if (output.StartsWith(HubPrefix, StringComparison.Ordinal)) return OutputKind.Hub;
        if (output.EndsWith(".fl", StringComparison.Ordinal)) return OutputKind.Flist;
        if (output.EndsWith(".tar", StringComparison.OrdinalIgnoreCase)) return OutputKind.Tar;
        if (output.EndsWith(".tar.gz", StringComparison.OrdinalIgnoreCase) || output.EndsWith(".tgz", StringComparison.OrdinalIgnoreCase))
            return OutputKind.TarGzip;
        if (output.EndsWith(".tar.zst", StringComparison.OrdinalIgnoreCase)) return OutputKind.TarZstd;
        return OutputKind.Directory;
    }

    private enum OutputKind
    {
        StandardOutput,
        Tar,
        TarGzip,
        TarZstd,
        Flist,
        Hub,
        Directory,
    }
}
