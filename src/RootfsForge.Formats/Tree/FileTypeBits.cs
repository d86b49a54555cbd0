namespace RootfsForge.Tree;

/// <summary>
/// The file-type bits of Linux's <c>st_mode</c> (<c>S_IFMT</c> and its values), which ext4's <c>i_mode</c>, tar's mode
/// field, a <c>.fl</c>'s <c>mode</c> column and <c>statx</c> all share. The one table of them.
/// </summary>
internal static class FileTypeBits
{
    public const int Mask = 0xF000;      // S_IFMT
    public const int Socket = 0xC000;    // S_IFSOCK
    public const int Symlink = 0xA000;   // S_IFLNK
    public const int Regular = 0x8000;   // S_IFREG
    public const int Block = 0x6000;     // S_IFBLK
    public const int Directory = 0x4000; // S_IFDIR
    public const int Character = 0x2000; // S_IFCHR
    public const int Fifo = 0x1000;      // S_IFIFO

    /// <summary>The type bits of <paramref name="type"/>; a hard link reports S_IFREG.</summary>
    public static int Of(EntryType type) => type switch
    {
        EntryType.Directory => Directory,
        EntryType.RegularFile or EntryType.HardLink => Regular,
        EntryType.SymbolicLink => Symlink,
        EntryType.CharacterDevice => Character,
        EntryType.BlockDevice => Block,
        EntryType.Fifo => Fifo,
        EntryType.Socket => Socket,
        _ => 0,
    };

    /// <summary>The entry type of <paramref name="mode"/>'s type bits; null for a value that is no file type.</summary>
    public static EntryType? ToEntryType(int mode) => (mode & Mask) switch
    {
        Directory => EntryType.Directory,
        Regular => EntryType.RegularFile,
        Symlink => EntryType.SymbolicLink,
        Character => EntryType.CharacterDevice,
        Block => EntryType.BlockDevice,
        Fifo => EntryType.Fifo,
        Socket => EntryType.Socket,
        _ => null,
    };
}
