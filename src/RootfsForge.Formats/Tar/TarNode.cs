using RootfsForge.Tree;

namespace RootfsForge.Tar;

/// <summary>
/// One name in a <see cref="TarIndex"/>: its bytes, the inode it names (shared by hard links), and for a directory its
/// children by name. Holds no path: the walk joins names.
/// </summary>
internal sealed class TarNode(byte[] name, TarInode inode)
{
    /// <summary>The last path component, as stored ("" for the root).</summary>
    public byte[] Name { get; } = name;

    /// <summary>What the name refers to; replaced when a later member or layer replaces the name.</summary>
    public TarInode Inode { get; set; } = inode;

    /// <summary>The children of a directory (null for other types and for an empty directory).</summary>
    public Dictionary<byte[], TarNode>? Children { get; set; }

    /// <summary>
    /// The last layer that created or changed this name, or one below it (<see cref="TarIndex.ApplyLayer"/> numbers layers
    /// from 1): OCI whiteouts remove only names of lower layers.
    /// </summary>
    public int Layer { get; set; }

    /// <summary>A parent directory no member named, made by the index (reported once by the walk).</summary>
    public bool Synthesized { get; set; }

    /// <summary>The walk has reported this synthesized directory.</summary>
    public bool Reported { get; set; }

    public bool IsDirectory => Inode.Type == EntryType.Directory;

    /// <summary>The child named <paramref name="name"/>, or null.</summary>
    public TarNode? Find(ReadOnlySpan<byte> name) =>
        Children is { } children && children.GetAlternateLookup<ReadOnlySpan<byte>>().TryGetValue(name, out var child) ? child : null;

    /// <summary>Adds (or replaces) the child <paramref name="child"/>.</summary>
    public void Add(TarNode child)
    {
        Children ??= new Dictionary<byte[], TarNode>(NameComparer.Instance);
        Children[child.Name] = child;
    }

    /// <summary>Name bytes compared by value, looked up by span without copying.</summary>
    private sealed class NameComparer : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
    {
        public static readonly NameComparer Instance = new();

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);
        public int GetHashCode(byte[] obj) => Hash(obj);
        public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);
        public int GetHashCode(ReadOnlySpan<byte> alternate) => Hash(alternate);
        public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();

        private static int Hash(ReadOnlySpan<byte> name)
        {
            var hash = new HashCode();
            hash.AddBytes(name);
            return hash.ToHashCode();
        }
    }
}

/// <summary>
/// What one or more names (hard links) refer to: a member's metadata, and for a regular file where its content lies in
/// which archive (for a layered image, the layer the member came from).
/// </summary>
internal sealed class TarInode
{
    /// <summary>Numbers inodes within an index (<see cref="TreeEntry.InodeId"/>); 0 for synthesized directories.</summary>
    public long Id { get; init; }

    public EntryType Type { get; init; }
    public int Permissions { get; init; }
    public uint Uid { get; init; }
    public uint Gid { get; init; }
    public UnixTime ModificationTime { get; init; }
    public UnixTime AccessTime { get; init; }
    public UnixTime ChangeTime { get; init; }
    public uint DeviceMajor { get; init; }
    public uint DeviceMinor { get; init; }
    public IReadOnlyList<ExtendedAttribute> ExtendedAttributes { get; init; } = [];

    /// <summary>A symlink's target bytes.</summary>
    public byte[]? LinkTarget { get; init; }

    /// <summary>A regular file's archive; null for other types.</summary>
    public TarArchive? Archive { get; init; }

    public long DataOffset { get; init; }
    public long Size { get; init; }
    public DataSegment[]? Segments { get; init; }

    /// <summary>A hard link names this inode too, so the walk tracks which name comes first.</summary>
    public bool HasHardLinks { get; set; }

    /// <summary>A directory no member named: mode 0755, owner 0:0, time 0 (docs/tar-output.md §10).</summary>
    public static TarInode SynthesizedDirectory() => new() { Type = EntryType.Directory, Permissions = 0x1ED };

    /// <summary>The inode for <paramref name="member"/>, whose content lies in <paramref name="archive"/>.</summary>
    public static TarInode From(TarMember member, TarArchive archive, long id) => new()
    {
        Id = id,
        Type = member.Type,
        Permissions = member.Permissions,
        Uid = member.Uid,
        Gid = member.Gid,
        ModificationTime = member.ModificationTime,
        AccessTime = member.AccessTime,
        ChangeTime = member.ChangeTime,
        DeviceMajor = member.DeviceMajor,
        DeviceMinor = member.DeviceMinor,
        ExtendedAttributes = member.ExtendedAttributes,
        LinkTarget = member.Type == EntryType.SymbolicLink ? member.LinkName : null,
        Archive = member.Type == EntryType.RegularFile ? archive : null,
        DataOffset = member.DataOffset,
        Size = member.Size,
        Segments = member.Segments,
    };
}
