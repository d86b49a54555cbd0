using RootfsForge.Tree;

using RootfsForge.Hub;
using RootfsForge.Stores;

namespace RootfsForge.Sinks;

/// <summary>Options shared by the sinks <see cref="SinkFactory"/> creates; each sink uses the ones that apply to it.</summary>
public sealed class SinkOptions
{
    /// <summary>Tar outputs: clamp every mtime to this (<c>--mtime-clamp</c>, <c>SOURCE_DATE_EPOCH</c>).</summary>
    public UnixTime? MtimeClamp { get; init; }

    /// <summary>Tar outputs: compression level; <c>null</c> for the format's default.</summary>
    public int? CompressionLevel { get; init; }

    /// <summary>Tar outputs: compression threads; <c>null</c> for all cores.</summary>
    public int? CompressionThreads { get; init; }

    /// <summary>Directory outputs: allow a target directory that is not empty.</summary>
    public bool AllowNonEmptyDirectory { get; init; }

    /// <summary>The stream the output <c>-</c> writes to; <c>null</c> for the process's standard output.</summary>
    public Stream? StandardOutput { get; init; }

    /// <summary>
    /// <c>.fl</c> outputs: the block stores the file contents go to (at least one). Owned by the caller, who disposes them
    /// after the sink.
    /// </summary>
    public IReadOnlyList<BlockStoreRoute> Stores { get; init; } = [];

    /// <summary><c>.fl</c> outputs: rows for the file's <c>tag</c> table.</summary>
    public IReadOnlyDictionary<string, string> Tags { get; init; } = new Dictionary<string, string>();

    /// <summary><c>hub:NAME</c> outputs: the client that uploads the tar.gz. Owned by the caller.</summary>
    public HubClient? Hub { get; init; }
}
