namespace RootfsForge.Tree;

/// <summary>
/// Linux's 64-bit <c>dev_t</c> encoding (glibc <c>gnu_dev_makedev</c>): minor bits 0–7 and 20–31, major bits 8–19 and
/// 32–43. <c>mknodat</c> takes it and a <c>.fl</c>'s <c>rdev</c> column stores it (docs/flist-format.md §2.4). ext4's
/// on-disk device field is a different encoding (docs/disk-formats.md §3.11).
/// </summary>
internal static class LinuxDeviceNumber
{
    /// <summary>The dev_t of <paramref name="major"/>:<paramref name="minor"/>.</summary>
    public static ulong Make(uint major, uint minor) =>
        ((ulong)(major & 0xFFF) << 8) | ((ulong)(major & ~0xFFFu) << 32) | (minor & 0xFFu) | ((ulong)(minor & ~0xFFu) << 12);

    /// <summary>The major number of <paramref name="dev"/>.</summary>
    public static uint Major(ulong dev) => (uint)(((dev >> 8) & 0xFFF) | ((dev >> 32) & ~0xFFFUL));

    /// <summary>The minor number of <paramref name="dev"/>.</summary>
    public static uint Minor(ulong dev) => (uint)((dev & 0xFF) | ((dev >> 12) & ~0xFFUL));
}
