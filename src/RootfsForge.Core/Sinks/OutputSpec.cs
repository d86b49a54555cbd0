using RootfsForge.Sinks.Tar;

namespace RootfsForge.Sinks;

/// <summary>The kinds of output a tree can be written to.</summary>
public enum OutputKind
{
    /// <summary>A tar file (<c>.tar</c>, <c>.tar.gz</c>/<c>.tgz</c>, <c>.tar.zst</c>).</summary>
    TarFile,

    /// <summary>An uncompressed tar on standard output (<c>-</c>).</summary>
    StandardOutput,

    /// <summary>A directory the tree is recreated in.</summary>
    Directory,

    /// <summary>An rfs v2 <c>.fl</c> with its blocks in stores.</summary>
    Flist,

    /// <summary>A tar.gz uploaded to the 0-hub (<c>hub:NAME</c>).</summary>
    Hub,
}

/// <summary>
/// An output name, as <c>-o</c> takes it, parsed once: <c>-</c> (tar on standard output), <c>X.tar</c>,
/// <c>X.tar.gz</c>/<c>X.tgz</c>, <c>X.tar.zst</c>, <c>X.fl</c> (extensions in any case), <c>hub:NAME</c>, or any other
/// path: a directory. Names that look like an archive RootfsForge does not write (<c>.tar.xz</c>, <c>.zip</c>, ...) are
/// refused instead of silently becoming a directory.
/// </summary>
/// <param name="Kind">The kind of output.</param>
/// <param name="Path">The file or directory path, the hub flist name for <see cref="OutputKind.Hub"/>, "-" for standard output.</param>
/// <param name="Compression">For <see cref="OutputKind.TarFile"/>: the compression its extension names.</param>
public sealed record OutputSpec(OutputKind Kind, string Path, TarCompression Compression = TarCompression.None)
{
    /// <summary>The prefix of hub outputs: <c>hub:NAME</c>.</summary>
    public const string HubPrefix = "hub:";

    /// <summary>The forms <see cref="Parse"/> accepts, for messages.</summary>
    public const string AcceptedForms =
        "X.tar, X.tar.gz, X.tgz, X.tar.zst, - (tar on stdout), X.fl, hub:NAME, or a directory that does not exist or is empty";

    private static readonly (string Suffix, OutputKind Kind, TarCompression Compression)[] Known =
    [
        (".tar", OutputKind.TarFile, TarCompression.None),
        (".tar.gz", OutputKind.TarFile, TarCompression.Gzip),
        (".tgz", OutputKind.TarFile, TarCompression.Gzip),
        (".tar.zst", OutputKind.TarFile, TarCompression.Zstd),
        (".fl", OutputKind.Flist, TarCompression.None),
    ];

    private static readonly string[] Refused =
    [
        ".tar.xz", ".txz", ".tar.bz2", ".tbz2", ".tbz", ".tar.lz4", ".tar.lzma", ".tar.z", ".tar.zstd", ".tzst", ".zip",
        ".flist", ".gz", ".zst", ".xz", ".bz2", ".cpio", ".img", ".qcow2", ".raw", ".iso",
    ];

    /// <summary>Parses <paramref name="output"/>.</summary>
    /// <exception cref="ArgumentException">Empty, <c>hub:</c> without a name, or an archive form RootfsForge does not write.</exception>
    public static OutputSpec Parse(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (output.Trim().Length == 0) throw new ArgumentException($"the output is empty; give one of: {AcceptedForms}", nameof(output));
        if (output == "-") return new OutputSpec(OutputKind.StandardOutput, "-");
        if (output.StartsWith(HubPrefix, StringComparison.Ordinal))
        {
            string name = output[HubPrefix.Length..];
            if (name.Length == 0 || name.Contains('/') || name.Trim() != name)
                throw new ArgumentException($"'{output}': a hub output is hub:NAME with a plain flist name", nameof(output));
            return new OutputSpec(OutputKind.Hub, name);
        }
        string file = System.IO.Path.GetFileName(output.TrimEnd('/'));
        foreach (var (suffix, kind, compression) in Known)
        {
            if (file.Length > suffix.Length && file.EndsWith(suffix, StringComparison.OrdinalIgnoreCase))
                return new OutputSpec(kind, output, compression);
        }
        foreach (var suffix in Refused)
        {
            if (file.EndsWith(suffix, StringComparison.OrdinalIgnoreCase))
                throw new ArgumentException($"'{output}': RootfsForge does not write {suffix} files; give one of: {AcceptedForms}", nameof(output));
        }
        return new OutputSpec(OutputKind.Directory, output);
    }

    /// <summary>The output for messages: the path, "stdout", or hub:NAME.</summary>
    public override string ToString() => Kind switch
    {
        OutputKind.StandardOutput => "stdout",
        OutputKind.Hub => HubPrefix + Path,
        _ => Path,
    };
}
