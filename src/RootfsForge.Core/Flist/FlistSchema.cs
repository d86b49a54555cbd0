namespace RootfsForge.Flist;

/// <summary>The rfs v2 <c>.fl</c> SQLite schema (flist-format.md §1.1), verbatim: rfs tools re-run these statements.</summary>
internal static class FlistSchema
{
    public static readonly string[] CreateStatements =
    [
        "CREATE TABLE IF NOT EXISTS inode (ino INTEGER PRIMARY KEY AUTOINCREMENT, parent INTEGER, name VARCHAR(255), size INTEGER, uid INTEGER, gid INTEGER, mode INTEGER, rdev INTEGER, ctime INTEGER, mtime INTEGER);",
        "CREATE INDEX IF NOT EXISTS parents ON inode (parent);",
        "CREATE INDEX IF NOT EXISTS names ON inode (name);",
        "CREATE TABLE IF NOT EXISTS extra (ino INTEGER PRIMARY KEY, data VARCHAR(4096));",
        "CREATE TABLE IF NOT EXISTS block (ino INTEGER, id VARCHAR(32), key VARCHAR(32));",
        "CREATE INDEX IF NOT EXISTS block_ino ON block (ino);",
        "CREATE TABLE IF NOT EXISTS tag (key VARCHAR(10) PRIMARY KEY, value VARCHAR(255));",
        "CREATE TABLE IF NOT EXISTS route (start INTEGER, end INTEGER, url VARCHAR(2048));",
    ];

    /// <summary>ino of the root directory (§2.1).</summary>
    public const long RootIno = 1;

    /// <summary>The size written for directories (§2.2).</summary>
    public const long DirectorySize = 4096;

    /// <summary>st_mode type mask and type values.</summary>
    public const uint TypeMask = 0xF000, Directory = 0x4000, Regular = 0x8000, Symlink = 0xA000, CharDevice = 0x2000,
        BlockDevice = 0x6000, Fifo = 0x1000, Socket = 0xC000;

    /// <summary>glibc <c>makedev</c> (§2.4).</summary>
    public static long MakeDev(uint major, uint minor) =>
        (long)((minor & 0xFFu) | ((ulong)(major & 0xFFFu) << 8) | ((ulong)(minor & ~0xFFu) << 12) | ((ulong)(major & ~0xFFFu) << 32));

    /// <summary>glibc <c>gnu_dev_major</c>.</summary>
    public static uint Major(long rdev) => (uint)((((ulong)rdev >> 8) & 0xFFF) | (((ulong)rdev >> 32) & ~0xFFFUL));

    /// <summary>glibc <c>gnu_dev_minor</c>.</summary>
    public static uint Minor(long rdev) => (uint)(((ulong)rdev & 0xFF) | (((ulong)rdev >> 12) & ~0xFFUL));
}
