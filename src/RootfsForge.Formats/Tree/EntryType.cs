namespace RootfsForge.Tree;

/// <summary>The kind of a <see cref="TreeEntry"/>.</summary>
public enum EntryType
{
    /// <summary>A directory.</summary>
    Directory,
    /// <summary>A regular file with content.</summary>
    RegularFile,
    /// <summary>A symbolic link; <see cref="TreeEntry.LinkTarget"/> holds its text.</summary>
    SymbolicLink,
    /// <summary>
    /// Another name of a regular file (or device, FIFO, ...) emitted earlier in the same stream; <see cref="TreeEntry.LinkTarget"/>
    /// holds that first path. Metadata and content are the shared inode's.
    /// </summary>
    HardLink,
    /// <summary>A character device; see <see cref="TreeEntry.DeviceMajor"/>/<see cref="TreeEntry.DeviceMinor"/>.</summary>
    CharacterDevice,
    /// <summary>A block device.</summary>
    BlockDevice,
    /// <summary>A named pipe.</summary>
    Fifo,
    /// <summary>A Unix socket (tar cannot hold these; sinks count and skip them).</summary>
    Socket,
}
