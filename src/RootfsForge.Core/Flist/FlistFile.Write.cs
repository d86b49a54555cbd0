using Microsoft.Data.Sqlite;

namespace RootfsForge.Flist;

/// <summary>
/// Writes an rfs v2 <c>.fl</c> (docs/flist-format.md §1–§2) row by row into a temporary SQLite file beside the target,
/// in one transaction; <see cref="Commit"/> adds the route and tag rows, commits, fsyncs and renames it into place.
/// Disposing without committing deletes the temporary file, so a failed build leaves no <c>.fl</c> behind.
/// The reader of the same format is <see cref="FlistFile"/>.
/// </summary>
internal sealed class FlistFileWriter : IDisposable
{
    private readonly string _path;
    private readonly string _tempPath;
    private readonly SqliteConnection _db;
    private readonly SqliteTransaction _tx;
    private readonly SqliteCommand _insertInode, _insertBlock, _insertExtra;
    private long _nextIno = FlistSchema.RootIno;
    private bool _committed, _closed;

    /// <summary>Starts a <c>.fl</c> that appears at <paramref name="path"/> on <see cref="Commit"/>.</summary>
    public FlistFileWriter(string path)
    {
        _path = Path.GetFullPath(path);
        _tempPath = Path.Combine(Path.GetDirectoryName(_path)!, $".{Path.GetFileName(_path)}.tmp-{Guid.NewGuid():N}");
        _db = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = _tempPath, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = false,
        }.ToString());
        try
        {
            _db.Open();
            Exec("PRAGMA journal_mode = DELETE;");
            Exec("PRAGMA synchronous = OFF;");
            _tx = _db.BeginTransaction();
            foreach (var sql in FlistSchema.CreateStatements) Exec(sql, _tx);
            _insertInode = Prepare("INSERT INTO inode (ino, parent, name, size, uid, gid, mode, rdev, ctime, mtime) " +
                                   "VALUES ($ino, $parent, $name, $size, $uid, $gid, $mode, $rdev, $ctime, $mtime)",
                "$ino", "$parent", "$name", "$size", "$uid", "$gid", "$mode", "$rdev", "$ctime", "$mtime");
            _insertBlock = Prepare("INSERT INTO block (ino, id, key) VALUES ($ino, $id, $key)", "$ino", "$id", "$key");
            _insertExtra = Prepare("INSERT INTO extra (ino, data) VALUES ($ino, $data)", "$ino", "$data");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>
    /// Writes an <c>inode</c> row and returns its ino (1 for the first: the root, docs/flist-format.md §2.1).
    /// </summary>
    /// <remarks>ctime is written as mtime: the build host's ctime means nothing after extraction
    /// (docs/flist-format.md §2.3).</remarks>
    public long AddInode(long parent, string name, long size, uint uid, uint gid, long mode, long rdev, long mtime)
    {
        long ino = _nextIno++;
        var p = _insertInode.Parameters;
        p[0].Value = ino;
        p[1].Value = parent;
        p[2].Value = name;
        p[3].Value = size;
        p[4].Value = (long)uid;
        p[5].Value = (long)gid;
        p[6].Value = mode;
        p[7].Value = rdev;
        p[8].Value = mtime;
        p[9].Value = mtime;
        _insertInode.ExecuteNonQuery();
        return ino;
    }

    /// <summary>Writes the <c>block</c> rows of one file, in file order (docs/flist-format.md §2.5).</summary>
    public void AddBlocks(long ino, ReadOnlySpan<FlistBlockRef> blocks)
    {
        foreach (var b in blocks)
        {
            _insertBlock.Parameters[0].Value = ino;
            _insertBlock.Parameters[1].Value = b.Id;
            _insertBlock.Parameters[2].Value = b.Key;
            _insertBlock.ExecuteNonQuery();
        }
    }

    /// <summary>Writes an <c>extra</c> row (a symlink's target, docs/flist-format.md §2.2).</summary>
    public void AddExtra(long ino, byte[] data)
    {
        _insertExtra.Parameters[0].Value = ino;
        _insertExtra.Parameters[1].Value = data;
        _insertExtra.ExecuteNonQuery();
    }

    /// <summary>The <see cref="FlistTreeDigest"/> of the rows written so far (the whole tree once every block row is in).</summary>
    public string TreeDigest()
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        return FlistTreeDigest.Compute(_db, _tx);
    }

    /// <summary>
    /// Writes the route rows (URLs must already be free of secrets, docs/flist-format.md §7) and tag rows, commits,
    /// flushes to disk and renames the file into place. Cancellation is checked after the slow flush, before the file
    /// appears.
    /// </summary>
    public void Commit(IEnumerable<FlistRoute> routes, IEnumerable<KeyValuePair<string, string>> tags, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        using (var route = Prepare("INSERT INTO route (start, \"end\", url) VALUES ($s, $e, $u)", "$s", "$e", "$u"))
        {
            foreach (var r in routes)
            {
                route.Parameters[0].Value = (long)r.Start;
                route.Parameters[1].Value = (long)r.End;
                route.Parameters[2].Value = r.Url;
                route.ExecuteNonQuery();
            }
        }
        using (var tag = Prepare("INSERT OR REPLACE INTO tag (key, value) VALUES ($k, $v)", "$k", "$v"))
        {
            foreach (var (k, v) in tags)
            {
                tag.Parameters[0].Value = k;
                tag.Parameters[1].Value = v;
                tag.ExecuteNonQuery();
            }
        }
        _tx.Commit();
        Close();
        using (var fs = new FileStream(_tempPath, FileMode.Open, FileAccess.ReadWrite)) fs.Flush(flushToDisk: true);
        cancellationToken.ThrowIfCancellationRequested();
        File.Move(_tempPath, _path, overwrite: true);
        _committed = true;
    }

    /// <summary>Closes the database; deletes the temporary file unless <see cref="Commit"/> succeeded.</summary>
    public void Dispose()
    {
        Close();
        if (_committed) return;
        foreach (var p in new[] { _tempPath, _tempPath + "-journal", _tempPath + "-wal", _tempPath + "-shm" })
        {
            try
            {
                File.Delete(p);
            }
            catch (IOException)
            {
            }
        }
    }

    private void Close()
    {
        if (_closed) return;
        _closed = true;
        _insertInode?.Dispose();
        _insertBlock?.Dispose();
        _insertExtra?.Dispose();
        _tx?.Dispose();
        _db.Close();
        _db.Dispose();
    }

    private void Exec(string sql, SqliteTransaction? tx = null)
    {
        using var cmd = _db.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
    }

    private SqliteCommand Prepare(string sql, params string[] names)
    {
        var cmd = _db.CreateCommand();
        cmd.Transaction = _tx;
        cmd.CommandText = sql;
        foreach (var n in names) cmd.Parameters.Add(new SqliteParameter { ParameterName = n });
        cmd.Prepare();
        return cmd;
    }
}
