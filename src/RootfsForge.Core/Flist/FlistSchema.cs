namespace RootfsForge.Flist;

/// <summary>
/// The rfs v2 <c>.fl</c> SQLite schema (docs/flist-format.md §1.1), verbatim: rfs tools re-run these statements.
/// </summary>
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

    /// <summary>ino of the root directory (docs/flist-format.md §2.1).</summary>
    public const long RootIno = 1;

    /// <summary>The size written for directories (docs/flist-format.md §2.2).</summary>
    public const long DirectorySize = 4096;
}
