using RootfsForge.Tree;
using Microsoft.Data.Sqlite;

namespace RootfsForge.Flist;

/// <summary>One <c>inode</c> row, its numbers range-checked (<see cref="FlistFile"/>); <see cref="Name"/> as the stored bytes.</summary>
internal sealed record FlistInode(long Ino, long Parent, byte[] Name, long Size, uint Uid, uint Gid, uint Mode, long Rdev,
    long Ctime, long Mtime)
{
    public int Type => (int)Mode & FileTypeBits.Mask;

    /// <summary>The name for messages: escaped where it is not UTF-8 or holds control characters.</summary>
    public string DisplayName => TreePath.Printable(FileNameEncoding.GetString(Name));

    /// <summary>"inode N", the structure messages name.</summary>
    public string Structure => $"inode {Ino}";
}

/// <summary>One <c>block</c> row: the store id and the AES/plaintext key, 32 bytes each.</summary>
internal readonly record struct FlistBlockRef(byte[] Id, byte[] Key);

/// <summary>One <c>route</c> row.</summary>
internal readonly record struct FlistRoute(byte Start, byte End, string Url);

/// <summary>
/// A whole <c>.fl</c> read into memory (metadata only: a few hundred bytes per inode) and closed again. Every problem is an
/// <see cref="ImageFormatException"/> naming the file and the row (docs/flist-format.md §2.8). Every number is checked
/// against the range its use allows: ino at least 1, parent at least 0, uid/gid/mode 32-bit, a mode whose type bits are
/// a file type, a regular file's size at least 0; times and device numbers take any 64-bit value (they are shown, not
/// computed with). How the rows form a tree is <see cref="Sources.Flist.FlistTree"/>'s concern.
/// </summary>
internal sealed class FlistFile : IDisposable
{
    private static readonly byte[] SqliteMagic = "SQLite format 3\0"u8.ToArray();
    private const int SqliteHeaderLength = 100;

    private readonly Dictionary<long, List<FlistBlockRef>> _blocks = [];

    public required string Path { get; init; }
    public List<FlistInode> Inodes { get; } = [];
    public Dictionary<long, byte[]> Extra { get; } = [];
    public List<FlistRoute> Routes { get; } = [];
    public List<KeyValuePair<string, string>> Tags { get; } = [];
    public long BlockRowCount { get; private set; }

    public IReadOnlyList<FlistBlockRef> BlocksOf(long ino) => _blocks.TryGetValue(ino, out var l) ? l : [];

    /// <summary>
    /// The number of block rows a regular file of <paramref name="size"/> bytes has: <c>ceil(size / 524288)</c>
    /// (docs/flist-format.md §2.2), computed without overflow for every size up to 2^63 − 1.
    /// </summary>
    public static long BlockCount(long size) => size / FlistBlock.ChunkSize + (size % FlistBlock.ChunkSize != 0 ? 1 : 0);

    /// <summary>True when the block rows of the regular file <paramref name="inode"/> cover its size exactly.</summary>
    public bool HasAllBlocks(FlistInode inode) => BlocksOf(inode.Ino).Count == BlockCount(inode.Size);

    public static FlistFile Open(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such .fl file", path);
        CheckHeader(path);
        var file = new FlistFile { Path = path };
        var csb = new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadOnly, Pooling = false };
        try
        {
            using var db = new SqliteConnection(csb.ToString());
            db.Open();
            string check = Scalar(db, "PRAGMA quick_check;")?.ToString() ?? "";
            if (check != "ok") throw Bad(path, $"SQLite integrity check failed: {check}", "database");
            var tables = new HashSet<string>(Column(db, "select name from sqlite_master where type = 'table'"));
            foreach (var t in new[] { "inode", "block", "extra" })
                if (!tables.Contains(t)) throw Bad(path, $"table '{t}' is missing: not an rfs .fl", "schema", kind: ImageErrorKind.NotAnImage);
            file.ReadInodes(db);
            file.ReadExtra(db);
            file.ReadBlocks(db);
            if (tables.Contains("route")) file.ReadRoutes(db);
            if (tables.Contains("tag")) file.ReadTags(db);
        }
        catch (SqliteException e)
        {
            throw new ImageFormatException($"not a readable .fl: {e.Message}", "SQLite database", inner: e) { ImagePath = path };
        }
        return file;
    }

    private static void CheckHeader(string path)
    {
        Span<byte> header = stackalloc byte[SqliteHeaderLength];
        using var fs = File.OpenRead(path);
        if (fs.Length < SqliteHeaderLength || fs.ReadAtLeast(header, SqliteHeaderLength, false) < SqliteHeaderLength)
            throw Bad(path, $"file is {fs.Length} bytes, shorter than an SQLite header", "SQLite header", 0, ImageErrorKind.Truncated);
        if (!header[..16].SequenceEqual(SqliteMagic)) throw Bad(path, "not an SQLite 3 database", "SQLite header", 0, ImageErrorKind.NotAnImage);
        int pageSize = (header[16] << 8) | header[17];
        if (pageSize == 1) pageSize = 65536;
        long pages = (header[28] << 24) | (header[29] << 16) | (header[30] << 8) | header[31];
        if (pageSize >= 512 && pages > 0 && fs.Length < pages * pageSize)
            throw Bad(path, $"file is truncated: {fs.Length} bytes, header says {pages} pages of {pageSize}", "SQLite header", 28, ImageErrorKind.Truncated);
    }

    private static ImageFormatException Bad(string path, string message, string structure, long? offset = null,
        ImageErrorKind kind = ImageErrorKind.Corrupt) =>
        new(message, structure, offset, kind: kind) { ImagePath = path };

    private static object? Scalar(SqliteConnection db, string sql)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        return cmd.ExecuteScalar();
    }

    private static List<string> Column(SqliteConnection db, string sql)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = sql;
        using var r = cmd.ExecuteReader();
        var list = new List<string>();
        while (r.Read()) list.Add(r.GetString(0));
        return list;
    }

    private void ReadInodes(SqliteConnection db)
    {
        using var cmd = db.CreateCommand();
        // The name as its stored bytes (CAST AS BLOB): a TEXT value may hold bytes that are not UTF-8, or a NUL.
        cmd.CommandText = "select ino, parent, name, size, uid, gid, mode, rdev, ctime, mtime, typeof(name), cast(name as blob) "
                          + "from inode order by ino";
        using var r = cmd.ExecuteReader();
        while (r.Read())
        {
            long ino = r.IsDBNull(0) ? 0 : r.GetInt64(0);
            string where = $"inode {ino}";
            for (int i = 0; i < 10; i++)
            {
                if (r.IsDBNull(i)) throw Bad(Path, $"column '{r.GetName(i)}' is NULL", where);
                if (i != 2 && r.GetFieldType(i) != typeof(long))
                    throw Bad(Path, $"column '{r.GetName(i)}' holds a {StorageClass(r.GetFieldType(i))}, not an INTEGER", where);
            }
            if (r.GetString(10) != "text") throw Bad(Path, $"name is {r.GetString(10).ToUpperInvariant()}, not TEXT", where);
            if (ino < 1) throw Bad(Path, $"ino {ino} is not a positive row id", where);
            long parent = r.GetInt64(1);
            if (parent < 0) throw Bad(Path, $"parent {parent} is negative", where);
            uint mode = U32(r, 6, where);
            if (FileTypeBits.ToEntryType((int)mode) is not { } type)
                throw Bad(Path, $"mode {Convert.ToString(mode, 8)} has no known file type", where);
            long size = r.GetInt64(3);
            if (type == EntryType.RegularFile && size < 0) throw Bad(Path, $"size {size} is negative", where);
            var name = r.IsDBNull(11) ? [] : (byte[])r.GetValue(11);
            Inodes.Add(new FlistInode(ino, parent, name, size, U32(r, 4, where), U32(r, 5, where), mode, r.GetInt64(7),
                r.GetInt64(8), r.GetInt64(9)));
        }
    }

    private static string StorageClass(Type type) =>
        type == typeof(string) ? "TEXT" : type == typeof(double) ? "REAL" : type == typeof(byte[]) ? "BLOB" : type.Name;

    private uint U32(SqliteDataReader r, int column, string where)
    {
        long v = r.GetInt64(column);
        if (v < 0 || v > uint.MaxValue) throw Bad(Path, $"{r.GetName(column)} {v} is out of range 0..2^32-1", where);
        return (uint)v;
    }

    private void ReadExtra(SqliteConnection db)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = "select ino, data from extra";
        using var r = cmd.ExecuteReader();
        while (r.Read())
        {
            if (r.IsDBNull(0) || r.IsDBNull(1)) throw Bad(Path, "NULL in an extra row", "extra");
            Extra[r.GetInt64(0)] = r.GetFieldType(1) == typeof(string)
                ? System.Text.Encoding.UTF8.GetBytes(r.GetString(1))
                : (byte[])r.GetValue(1);
        }
    }

    private void ReadBlocks(SqliteConnection db)
    {
        using var cmd = db.CreateCommand();
        // Within one ino, rowid order is file order (docs/flist-format.md §2.5).
        cmd.CommandText = "select ino, id, key from block order by ino, rowid";
        using var r = cmd.ExecuteReader();
        while (r.Read())
        {
            long ino = r.IsDBNull(0) ? 0 : r.GetInt64(0);
            var id = r.IsDBNull(1) ? null : r.GetValue(1) as byte[];
            var key = r.IsDBNull(2) ? null : r.GetValue(2) as byte[];
            if (id is not { Length: FlistBlock.HashLength } || key is not { Length: FlistBlock.HashLength })
                throw Bad(Path, "block id and key must be 32-byte BLOBs", $"block row of inode {ino}");
            if (!_blocks.TryGetValue(ino, out var list)) _blocks[ino] = list = [];
            list.Add(new FlistBlockRef(id, key));
            BlockRowCount++;
        }
    }

    private void ReadRoutes(SqliteConnection db)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = "select start, \"end\", url from route";
        using var r = cmd.ExecuteReader();
        while (r.Read())
        {
            if (r.IsDBNull(0) || r.IsDBNull(1) || r.IsDBNull(2)) throw Bad(Path, "NULL in a route row", "route");
            long s = r.GetInt64(0), e = r.GetInt64(1);
            if (s is < 0 or > 255 || e is < 0 or > 255) throw Bad(Path, $"route range {s}-{e} is outside 0..255", "route");
            Routes.Add(new FlistRoute((byte)s, (byte)e, r.GetString(2)));
        }
    }

    private void ReadTags(SqliteConnection db)
    {
        using var cmd = db.CreateCommand();
        cmd.CommandText = "select key, value from tag";
        using var r = cmd.ExecuteReader();
        while (r.Read()) Tags.Add(new(r.GetValue(0)?.ToString() ?? "", r.GetValue(1)?.ToString() ?? ""));
    }

    public void Dispose()
    {
    }
}
