namespace RootfsForge.Tree;

/// <summary>
/// One entry of a filesystem tree, as every source produces it and every sink consumes it.
/// </summary>
/// <remarks>
/// Paths follow <see cref="TreePath"/>'s rules: relative to the tree root, separated by <c>/</c>, without a leading
/// <c>/</c> or <c>./</c>, no empty, <c>.</c> or <c>..</c> components; the root itself is the empty string. File names are
/// bytes on Linux: names that are not valid UTF-8 are carried losslessly in <see cref="FileNameEncoding"/>'s escaped form;
/// sinks that write bytes convert back with <see cref="FileNameEncoding.GetBytes(string)"/>. A record: derive a changed
/// copy with <c>with</c>.
/// </remarks>
public sealed record TreeEntry
{
    /// <summary>The path relative to the root ("" for the root, "etc/passwd", ...).</summary>
    public required string Path { get; init; }

    /// <summary>The kind of entry.</summary>
    public required EntryType Type { get; init; }

    /// <summary>Permission bits and setuid/setgid/sticky: the low 12 bits of st_mode (0o7777).</summary>
    public int Permissions { get; init; }

    /// <summary>Numeric owner.</summary>
    public uint Uid { get; init; }

    /// <summary>Numeric group.</summary>
    public uint Gid { get; init; }

    /// <summary>Modification time.</summary>
    public UnixTime ModificationTime { get; init; }

    /// <summary>Access time.</summary>
    public UnixTime AccessTime { get; init; }

    /// <summary>Inode change time.</summary>
    public UnixTime ChangeTime { get; init; }

    /// <summary>Size in bytes: content length for regular files (and hard links to them), target length for symlinks, else 0.</summary>
    public long Size { get; init; }

    /// <summary>Device major number (character and block devices).</summary>
    public uint DeviceMajor { get; init; }

    /// <summary>Device minor number (character and block devices).</summary>
    public uint DeviceMinor { get; init; }

    /// <summary>
    /// For <see cref="EntryType.SymbolicLink"/>: the link text exactly as stored (escaped like paths). For
    /// <see cref="EntryType.HardLink"/>: the path of the first entry of the same inode, emitted earlier in the stream.
    /// </summary>
    public string? LinkTarget { get; init; }

    /// <summary>
    /// An identity shared by all names of one inode within one source (ext4: the inode number), or 0 when not known.
    /// Informational; hard links are already resolved into <see cref="EntryType.HardLink"/> entries.
    /// </summary>
    public long InodeId { get; init; }

    /// <summary>Extended attributes in Linux xattr form, sorted by name (ACLs as <c>system.posix_acl_*</c> v2 values).</summary>
    public IReadOnlyList<ExtendedAttribute> ExtendedAttributes { get; init; } = [];

    /// <summary>
    /// Opens the content of a regular file (or of the file a hard link names). <c>null</c> for other types.
    /// May be called more than once; each call returns an independent reader.
    /// </summary>
    public Func<FileContent>? OpenContent { get; init; }

    /// <summary>st_mode type bits for this entry's type (S_IFREG, S_IFDIR, ...); hard links report S_IFREG.</summary>
    public int TypeBits => FileTypeBits.Of(Type);

    /// <summary>The full st_mode (type bits | permissions).</summary>
    public int Mode => TypeBits | (Permissions & 0xFFF);

    /// <summary>The file name (last path component), "" for the root.</summary>
    public string Name => TreePath.GetName(Path);

    /// <inheritdoc />
    public override string ToString() => $"{Type} {TreePath.Display(Path)}";
}
