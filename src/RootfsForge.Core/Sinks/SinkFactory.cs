using RootfsForge.Hub;
using RootfsForge.Sinks.Directories;
using RootfsForge.Sinks.Flist;
using RootfsForge.Sinks.Hub;
using RootfsForge.Sinks.Tar;
using RootfsForge.Tree;

namespace RootfsForge.Sinks;

/// <summary>What <see cref="SinkFactory"/> needs beyond the output name; each sink takes the part that applies to it.</summary>
public sealed record SinkFactoryOptions
{
    /// <summary>Clamp every modification time to this (<c>--mtime-clamp</c>, <c>SOURCE_DATE_EPOCH</c>).</summary>
    public UnixTime? MtimeClamp { get; init; }

    /// <summary>
    /// Replace an output that exists (a file, or a directory that is not empty). Without it such an output is refused
    /// before anything is written; an empty directory is always accepted.
    /// </summary>
    public bool Overwrite { get; init; }

    /// <summary>Tar outputs (files, stdout, hub uploads): compression level and threads.</summary>
    public TarSinkOptions Tar { get; init; } = new();

    /// <summary>Directory outputs.</summary>
    public DirectorySinkOptions Directory { get; init; } = new();

    /// <summary><c>.fl</c> outputs: stores (at least one) and tags. Required for a <c>.fl</c>.</summary>
    public FlistSinkOptions? Flist { get; init; }

    /// <summary><c>hub:NAME</c> outputs: the client that uploads the tar.gz (owned by the caller). Required for a hub output.</summary>
    public HubClient? Hub { get; init; }

    /// <summary>The stream the output <c>-</c> writes to; <c>null</c> for the process's standard output.</summary>
    public Stream? StandardOutput { get; init; }
}

/// <summary>Creates the sink an output name asks for, the way the CLI's <c>-o</c> does.</summary>
public static class SinkFactory
{
    /// <summary>Parses <paramref name="output"/> (see <see cref="OutputSpec.Parse"/>) and creates its sink.</summary>
    public static TreeSink Create(string output, SinkFactoryOptions? options = null) => Create(OutputSpec.Parse(output), options);

    /// <summary>Creates the sink for <paramref name="output"/>.</summary>
    /// <exception cref="ArgumentException">A <c>.fl</c> without stores or a hub output without a client.</exception>
    /// <exception cref="IOException">The output exists and <see cref="SinkFactoryOptions.Overwrite"/> is not set.</exception>
    public static TreeSink Create(OutputSpec output, SinkFactoryOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(output);
        options ??= new SinkFactoryOptions();
        CheckRequirements(output, options);
        CheckExisting(output, options.Overwrite);
        var tar = options.Tar with { MtimeClamp = options.MtimeClamp ?? options.Tar.MtimeClamp };
        return output.Kind switch
        {
            OutputKind.StandardOutput => new TarSink(options.StandardOutput ?? Console.OpenStandardOutput(),
                tar with { Compression = TarCompression.None }, leaveOpen: true),
            OutputKind.TarFile => TarSink.CreateFile(output.Path, tar with { Compression = output.Compression }),
            OutputKind.Flist => new FlistSink(output.Path, options.Flist! with { MtimeClamp = options.MtimeClamp ?? options.Flist.MtimeClamp }),
            OutputKind.Hub => new HubSink(options.Hub!, output.Path, tar),
            _ => new DirectorySink(output.Path, options.Directory with { ReplaceExisting = options.Overwrite || options.Directory.ReplaceExisting }),
        };
    }

    /// <summary>
    /// Checks, before any work, that <paramref name="output"/> can be created with <paramref name="options"/>: the stores
    /// or hub client it needs are there and it does not exist (unless overwriting).
    /// </summary>
    /// <exception cref="ArgumentException">A requirement is missing.</exception>
    /// <exception cref="IOException">The output exists and may not be replaced.</exception>
    public static void Validate(OutputSpec output, SinkFactoryOptions options)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(options);
        CheckRequirements(output, options);
        CheckExisting(output, options.Overwrite);
    }

    private static void CheckRequirements(OutputSpec output, SinkFactoryOptions options)
    {
        switch (output.Kind)
        {
            case OutputKind.Flist:
                if (options.Flist is null || options.Flist.Stores.Count == 0)
                    throw new ArgumentException($"the output '{output}' is a .fl flist: it needs at least one block store", nameof(options));
                FlistSink.ValidateStores(options.Flist.Stores);
                break;
            case OutputKind.Hub when options.Hub is null:
                throw new ArgumentException($"the output '{output}' uploads to the hub: it needs a hub client", nameof(options));
        }
    }

    private static void CheckExisting(OutputSpec output, bool overwrite)
    {
        if (overwrite || output.Kind is OutputKind.StandardOutput or OutputKind.Hub) return;
        string path = Path.GetFullPath(output.Path);
        if (output.Kind == OutputKind.Directory)
        {
            if (File.Exists(path)) throw new IOException($"output '{output}' exists and is not a directory");
            if (Directory.Exists(path) && Directory.EnumerateFileSystemEntries(path).Any())
                throw new IOException($"output directory '{output}' is not empty (replace it with --force)");
            return;
        }
        if (Directory.Exists(path)) throw new IOException($"output '{output}' is a directory");
        if (File.Exists(path)) throw new IOException($"output '{output}' exists (replace it with --force)");
        string? parent = Path.GetDirectoryName(path);
        if (parent is not null && !Directory.Exists(parent)) throw new IOException($"the folder of output '{output}' does not exist");
    }
}
