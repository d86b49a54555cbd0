using RootfsForge.Tree;

namespace RootfsForge.Tar;

/// <summary>
/// One archive member as <see cref="TarMemberReader"/> reads it: its header, GNU long name/link, pax records and sparse map
/// folded into one record. Names are the raw bytes stored (not yet made into tree paths).
/// </summary>
internal sealed class TarMember
{
    /// <summary>Archive offset of the member's first header block (a pax or GNU long-name header when it has one).</summary>
    public required long Offset { get; init; }

    /// <summary>
    /// Directory, regular file, symlink, hard link (to <see cref="LinkName"/>), character or block device, or FIFO.
    /// </summary>
    public required EntryType Type { get; init; }

    /// <summary>The member name: <c>GNU.sparse.name</c>, pax <c>path</c>, GNU long name, or ustar prefix/name, in that order.</summary>
    public required byte[] Name { get; init; }

    /// <summary>Symlink target or hard link target: pax <c>linkpath</c>, GNU long link, or the header's linkname.</summary>
    public byte[] LinkName { get; init; } = [];

    public int Permissions { get; init; }
    public uint Uid { get; init; }
    public uint Gid { get; init; }
    public UnixTime ModificationTime { get; init; }

    /// <summary>pax <c>atime</c>, else the modification time.</summary>
    public UnixTime AccessTime { get; init; }

    /// <summary>pax <c>ctime</c>, else the modification time.</summary>
    public UnixTime ChangeTime { get; init; }

    public uint DeviceMajor { get; init; }
    public uint DeviceMinor { get; init; }

    /// <summary>Extended attributes, sorted by name.</summary>
    public IReadOnlyList<ExtendedAttribute> ExtendedAttributes { get; init; } = [];

    /// <summary>Regular files: archive offset of the stored data (after any sparse map or extension blocks).</summary>
    public long DataOffset { get; init; }

    /// <summary>Regular files: the file size (the real size of a sparse file).</summary>
    public long Size { get; init; }

    /// <summary>Sparse files: the ranges holding data, stored back to back from <see cref="DataOffset"/>; null otherwise.</summary>
    public DataSegment[]? Segments { get; init; }
}
