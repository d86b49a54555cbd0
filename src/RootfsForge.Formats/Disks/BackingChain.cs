namespace RootfsForge.Disks;

/// <summary>
/// The images opened along one backing chain: which folders their files may come from, how deep the chain is, and
/// whether it loops (docs/disk-formats.md §1.7).
/// </summary>
internal sealed class BackingChain
{
    private readonly HashSet<string> _seen = new(StringComparer.Ordinal);
    private readonly IReadOnlyList<string> _roots;

    private BackingChain(IReadOnlyList<string> roots) => _roots = roots;

    /// <summary>The depth of the image entered last (the top image is 0).</summary>
    public int Depth { get; private set; } = -1;

    /// <summary>
    /// The chain of the image <paramref name="path"/>: its files may lie in the image's folder (symbolic links resolved)
    /// and in <see cref="DiskImageOptions.AllowedBackingDirectories"/>.
    /// </summary>
    /// <exception cref="ArgumentException">An allowed directory does not exist or is not a directory.</exception>
    public static BackingChain For(string path, DiskImageOptions options)
    {
        string folder = Path.GetDirectoryName(Path.GetFullPath(path)) ?? "/";
        var roots = new List<string> { ImageFile.RealPath(folder) };
        foreach (var allowed in options.AllowedBackingDirectories)
        {
            if (!Directory.Exists(allowed))
                throw new ArgumentException($"allowed backing directory '{allowed}' does not exist or is not a directory",
                    nameof(options));
            roots.Add(ImageFile.RealPath(allowed));
        }
        return new BackingChain(roots);
    }

    /// <summary>Adds an image to the chain, refusing a loop or a chain deeper than <paramref name="maxDepth"/>.</summary>
    public void Enter(string path, string resolvedPath, int maxDepth)
    {
        if (!_seen.Add(resolvedPath))
            throw new ImageFormatException($"backing chain loops: '{path}' is already part of the chain", "qcow2 backing chain",
                null, kind: ImageErrorKind.Loop) { ImagePath = path };
        Depth++;
        if (Depth > maxDepth)
            throw new ImageFormatException($"backing chain is deeper than {maxDepth} images", "qcow2 backing chain", null,
                kind: ImageErrorKind.LimitExceeded) { ImagePath = path };
    }

    /// <summary>
    /// Resolves a backing file or external data file name stored in the image <paramref name="imagePath"/>, the way qemu
    /// does (a relative name against that image's folder, an absolute one as is), and checks that the file it reaches
    /// (symbolic links resolved) lies inside an allowed folder. Returns the name as reached and the file to open.
    /// </summary>
    /// <param name="imagePath">The image that names the file.</param>
    /// <param name="name">The name as stored.</param>
    /// <param name="structure">What it is, e.g. <c>qcow2 backing file</c>.</param>
    /// <param name="nameOffset">Where the name is stored in the image, when known.</param>
    public (string Path, string ResolvedPath) Resolve(string imagePath, string name, string structure, long? nameOffset)
    {
        string folder = Path.GetDirectoryName(Path.GetFullPath(imagePath)) ?? "/";
        // "protocol:..." names (nbd:, json:, http:) are qemu block drivers, not files.
        int colon = name.IndexOf(':');
        if (colon > 0 && name.IndexOf('/') is var slash && (slash < 0 || slash > colon) && !File.Exists(Path.Combine(folder, name)))
            throw new UnsupportedImageException($"{Describe(structure)} '{name}' uses a qemu protocol; only local files are supported",
                structure, nameOffset) { ImagePath = imagePath };
        string full = Path.IsPathRooted(name) ? name : Path.Combine(folder, name);
        string resolved;
        try
        {
            resolved = ImageFile.RealPath(full);
        }
        catch (FileNotFoundException)
        {
            throw new ImageFormatException($"{Describe(structure)} '{name}' not found (looked for {full})", structure, nameOffset,
                kind: ImageErrorKind.MissingReference) { ImagePath = imagePath };
        }
        if (!_roots.Any(root => ImageFile.IsInside(resolved, root)))
            throw new ImageFormatException(
                $"{Describe(structure)} '{name}' resolves to '{resolved}', outside the image's folder '{_roots[0]}'; refused " +
                "(a backing file may only come from another folder when that folder is allowed: --allow-backing-outside DIR, " +
                "DiskImageOptions.AllowedBackingDirectories)", structure, nameOffset, kind: ImageErrorKind.MissingReference)
                { ImagePath = imagePath };
        return (full, resolved);
    }

    private static string Describe(string structure) => structure.StartsWith("qcow2 ", StringComparison.Ordinal) ? structure[6..] : structure;
}
