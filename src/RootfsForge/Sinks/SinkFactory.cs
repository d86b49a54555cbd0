using RootfsForge.Sinks.Directory;
using RootfsForge.Sinks.Tar;
using RootfsForge.Tree;

namespace RootfsForge.Sinks;

/// <summary>Chooses a sink from an output name, the way the CLI's <c>-o</c> does.</summary>
public static class SinkFactory
{
    /// <summary>
    /// Creates the sink for <paramref name="output"/>: <c>-</c> writes an uncompressed tar to standard output;
    /// <c>*.tar</c>, <c>*.tar.gz</c>/<c>*.tgz</c> and <c>*.tar.zst</c> write a (compressed) tar file through a temporary
    /// name; anything else is a directory to recreate the tree in.
    /// </summary>
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
            // The .fl (rfs flist) and hub:NAME outputs are classified and created here once their sinks exist.
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

    private static OutputKind Classify(string output)
    {
        if (output == "-") return OutputKind.StandardOutput;
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
        Directory,
    }
}
