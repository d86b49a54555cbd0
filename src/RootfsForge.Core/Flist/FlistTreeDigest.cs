using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Data.Sqlite;

namespace RootfsForge.Flist;

/// <summary>
/// The tree digest of a <c>.fl</c> (docs/flist-format.md §13): SHA-256 over one record per inode, sorted by path, of
/// path, mode (type and permission bits), owner, size, device number, link target and the file's blocks (id and key,
/// in file order). It names the tree a flist describes — independent of the <c>tag</c> and <c>route</c> rows, inode
/// numbering, row order and times — so a build manifest signed together with it cannot be moved to another flist.
/// Computed from the SQLite tables alone, by the writer before it commits and by readers of the finished file alike.
/// </summary>
public static class FlistTreeDigest
{
    /// <summary>The prefix of a digest string: <c>sha256:</c> followed by 64 hex digits.</summary>
    public const string Prefix = "sha256:";

    /// <summary>The tree digest of the <c>.fl</c> file at <paramref name="path"/>.</summary>
    /// <exception cref="ImageFormatException">The file is not a readable <c>.fl</c>.</exception>
    public static string Of(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such .fl file", path);
        var csb = new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadOnly, Pooling = false };
        try
        {
            using var db = new SqliteConnection(csb.ToString());
            db.Open();
            return Compute(db, null);
        }
        catch (SqliteException e)
        {
            throw new ImageFormatException($"not a readable .fl: {e.Message}", "SQLite database", inner: e) { ImagePath = path };
        }
    }

    /// <summary>The tree digest of the <c>.fl</c> open on <paramref name="db"/> (inside <paramref name="transaction"/> when writing).</summary>
    internal static string Compute(SqliteConnection db, SqliteTransaction? transaction)
    {
        var inodes = new Dictionary<long, (long Parent, byte[] Name, long Size, long Uid, long Gid, long Mode, long Rdev)>();
        using (var cmd = Command(db, transaction, "select ino, parent, cast(name as blob), size, uid, gid, mode, rdev from inode"))
        using (var r = cmd.ExecuteReader())
        {
            while (r.Read())
                inodes[Int(r, 0)] = (Int(r, 1), r.IsDBNull(2) ? [] : (byte[])r.GetValue(2), Int(r, 3), Int(r, 4), Int(r, 5), Int(r, 6), Int(r, 7));
        }
        var targets = new Dictionary<long, byte[]>();
        using (var cmd = Command(db, transaction, "select ino, cast(data as blob) from extra"))
        using (var r = cmd.ExecuteReader())
        {
            while (r.Read()) targets[Int(r, 0)] = r.IsDBNull(1) ? [] : (byte[])r.GetValue(1);
        }
        var blocks = new Dictionary<long, StringBuilder>();
        using (var cmd = Command(db, transaction, "select ino, id, key from block order by ino, rowid"))
        using (var r = cmd.ExecuteReader())
        {
            while (r.Read())
            {
                long ino = Int(r, 0);
                if (!blocks.TryGetValue(ino, out var list)) blocks[ino] = list = new StringBuilder();
                if (list.Length > 0) list.Append(',');
                list.Append(Hex(r, 1)).Append(':').Append(Hex(r, 2));
            }
        }

        // Paths from parent links; an inode not reachable from the root (or in a cycle) is left out, as readers do.
        var paths = new Dictionary<long, byte[]>();
        byte[]? PathOf(long ino)
        {
            if (paths.TryGetValue(ino, out var known)) return known;
            var chain = new List<long>();
            long at = ino;
            while (!paths.ContainsKey(at))
            {
                if (at == FlistSchema.RootIno) { paths[at] = "/"u8.ToArray(); break; }
                if (!inodes.TryGetValue(at, out var row) || chain.Count > inodes.Count || chain.Contains(at)) return null;
                chain.Add(at);
                at = row.Parent;
            }
            for (int i = chain.Count - 1; i >= 0; i--)
            {
                var parent = paths[inodes[chain[i]].Parent];
                var name = inodes[chain[i]].Name;
                var p = new byte[(parent.Length == 1 ? 0 : parent.Length) + 1 + name.Length];
                if (parent.Length > 1) parent.CopyTo(p, 0);
                p[p.Length - name.Length - 1] = (byte)'/';
                name.CopyTo(p, p.Length - name.Length);
                paths[chain[i]] = p;
            }
            return paths[ino];
        }

        var records = new List<(byte[] Path, long Ino)>(inodes.Count);
        foreach (var ino in inodes.Keys)
            if (PathOf(ino) is { } p) records.Add((p, ino));
        records.Sort((a, b) => a.Path.AsSpan().SequenceCompareTo(b.Path));

        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData("rootfsforge-tree/v1\n"u8);
        var inv = CultureInfo.InvariantCulture;
        foreach (var (path, ino) in records)
        {
            var i = inodes[ino];
            hash.AppendData(path);
            hash.AppendData(Encoding.ASCII.GetBytes(string.Create(inv,
                $"\0{Convert.ToString(i.Mode, 8)}\0{i.Uid}:{i.Gid}\0{i.Size}\0{i.Rdev}\0")));
            if (targets.TryGetValue(ino, out var target)) hash.AppendData(target);
            hash.AppendData("\0"u8);
            if (blocks.TryGetValue(ino, out var list)) hash.AppendData(Encoding.ASCII.GetBytes(list.ToString()));
            hash.AppendData("\n"u8);
        }
        return Prefix + Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static SqliteCommand Command(SqliteConnection db, SqliteTransaction? transaction, string sql)
    {
        var cmd = db.CreateCommand();
        cmd.Transaction = transaction;
        cmd.CommandText = sql;
        return cmd;
    }

    private static long Int(SqliteDataReader r, int column) => r.IsDBNull(column) ? 0 : r.GetInt64(column);

    private static string Hex(SqliteDataReader r, int column) =>
        r.IsDBNull(column) ? "" : r.GetValue(column) is byte[] b ? Convert.ToHexStringLower(b) : Convert.ToHexStringLower(Encoding.UTF8.GetBytes(r.GetValue(column).ToString()!));
}
