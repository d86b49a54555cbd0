using System.Text.Json;

namespace RootfsForge.Sources.Oci;

/// <summary>
/// The parts of an image configuration (image-spec config.md; Docker's image JSON has the same fields) that decide
/// how the container runs.
/// </summary>
public sealed class ImageConfig
{
    private ImageConfig()
    {
    }

    /// <summary>The operating system the image is built for (<c>linux</c>).</summary>
    public string Os { get; private init; } = "";

    /// <summary>The CPU architecture (<c>amd64</c>, <c>arm64</c>, …).</summary>
    public string Architecture { get; private init; } = "";

    /// <summary>The CPU variant, or <c>null</c>.</summary>
    public string? Variant { get; private init; }

    /// <summary><c>config.Entrypoint</c>: the command's first words (empty when unset).</summary>
    public IReadOnlyList<string> Entrypoint { get; private init; } = [];

    /// <summary><c>config.Cmd</c>: default arguments after <see cref="Entrypoint"/>, or the command when there is none.</summary>
    public IReadOnlyList<string> Cmd { get; private init; } = [];

    /// <summary><c>config.Env</c>: <c>NAME=VALUE</c> entries, in order.</summary>
    public IReadOnlyList<string> Env { get; private init; } = [];

    /// <summary><c>config.WorkingDir</c>, or <c>null</c>.</summary>
    public string? WorkingDir { get; private init; }

    /// <summary><c>config.User</c> (<c>user</c>, <c>uid</c>, <c>user:group</c>, <c>uid:gid</c>), or <c>null</c>.</summary>
    public string? User { get; private init; }

    /// <summary><c>config.Labels</c>.</summary>
    public IReadOnlyDictionary<string, string> Labels { get; private init; } = new Dictionary<string, string>();

    /// <summary><c>config.ExposedPorts</c> keys (<c>80/tcp</c>, <c>53/udp</c>), in order.</summary>
    public IReadOnlyList<string> ExposedPorts { get; private init; } = [];

    /// <summary><c>config.StopSignal</c>, or <c>null</c>.</summary>
    public string? StopSignal { get; private init; }

    /// <summary><c>rootfs.diff_ids</c>: the digest of each layer's uncompressed tar, bottom layer first.</summary>
    public IReadOnlyList<string> DiffIds { get; private init; } = [];

    /// <summary>Parses a configuration blob; <paramref name="structure"/> names it in errors.</summary>
    internal static ImageConfig Parse(ReadOnlyMemory<byte> json, string structure)
    {
        using var doc = JsonRead.Parse(json, structure);
        var root = doc.RootElement;
        var config = JsonRead.Object(root, "config", structure);
        var rootfs = JsonRead.Object(root, "rootfs", structure);
        if (rootfs is JsonElement r && JsonRead.String(r, "type", structure) is { } type && type != "layers")
            throw new UnsupportedImageException($"rootfs type '{type}' is not supported (only 'layers')", structure);
        var diffIds = rootfs is JsonElement rf ? JsonRead.StringArray(rf, "diff_ids", structure) : [];
        foreach (var d in diffIds) ContentDigest.Parse(d, structure);
        return new ImageConfig
        {
            Os = JsonRead.String(root, "os", structure) ?? "",
            Architecture = JsonRead.String(root, "architecture", structure) ?? "",
            Variant = JsonRead.String(root, "variant", structure) is { Length: > 0 } v ? v : null,
            Entrypoint = config is JsonElement c1 ? JsonRead.StringArray(c1, "Entrypoint", structure) : [],
            Cmd = config is JsonElement c2 ? JsonRead.StringArray(c2, "Cmd", structure) : [],
            Env = config is JsonElement c3 ? JsonRead.StringArray(c3, "Env", structure) : [],
            WorkingDir = config is JsonElement c4 ? NonEmpty(JsonRead.String(c4, "WorkingDir", structure)) : null,
            User = config is JsonElement c5 ? NonEmpty(JsonRead.String(c5, "User", structure)) : null,
            Labels = config is JsonElement c6 ? JsonRead.StringMap(c6, "Labels", structure) : new Dictionary<string, string>(),
            ExposedPorts = config is JsonElement c7 && JsonRead.Object(c7, "ExposedPorts", structure) is JsonElement ports
                ? ports.EnumerateObject().Select(p => p.Name).ToArray()
                : [],
            StopSignal = config is JsonElement c8 ? NonEmpty(JsonRead.String(c8, "StopSignal", structure)) : null,
            DiffIds = diffIds,
        };
    }

    private static string? NonEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;
}
