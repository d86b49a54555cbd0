namespace RootfsForge.Stores;

/// <summary>
/// <c>dir:///path</c>: one file per block named by the lowercase hex id. Writes both layouts, flat <c>{root}/{hex}</c> (what
/// rfs 2.0.6 reads) and two-level <c>{root}/{hex[0..2]}/{hex}</c> (newer rfs); reads two-level, then flat (§6).
/// The two-level name is a hard link to the flat file where the filesystem allows it, so the second layout costs
/// neither space nor a second write.
/// </summary>
internal sealed class DirectoryBlockStore : IBlockStore
{
    private readonly string _root;

    private DirectoryBlockStore(string root, string url)
    {
        _root = root;
        Url = url;
    }

    public string Url { get; }

    public bool IsReadOnly => false;

    public static DirectoryBlockStore Open(string url)
    {
        string path = Uri.UnescapeDataString(url["dir://".Length..]);
        if (!path.StartsWith('/')) throw new ArgumentException($"dir store needs an absolute path: '{url}'");
        return new DirectoryBlockStore(path, url);
    }

    private string Flat(string hex) => Path.Combine(_root, hex);

    private string TwoLevel(string hex) => Path.Combine(_root, hex[..2], hex);

    public Task<bool> ExistsAsync(ReadOnlyMemory<byte> id, CancellationToken cancellationToken = default)
    {
        string hex = Convert.ToHexStringLower(id.Span);
        return Task.FromResult(File.Exists(Flat(hex)) && File.Exists(TwoLevel(hex)));
    }

    public async Task PutAsync(ReadOnlyMemory<byte> id, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        string hex = Convert.ToHexStringLower(id.Span);
        try
        {
            Directory.CreateDirectory(Path.Combine(_root, hex[..2]));
            await WriteAtomicAsync(Flat(hex), data, cancellationToken).ConfigureAwait(false);
            if (!TryLink(Flat(hex), TwoLevel(hex)))
                await WriteAtomicAsync(TwoLevel(hex), data, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BlockStoreException($"{Url}: cannot write block {hex}: {e.Message}", e);
        }
    }

    /// <summary>Links <paramref name="path"/> to <paramref name="existing"/>; false when the filesystem cannot (then copy).</summary>
    private static unsafe bool TryLink(string existing, string path)
    {
        fixed (byte* from = IO.Posix.CString(existing))
        fixed (byte* to = IO.Posix.CString(path))
        {
            if (IO.Posix.linkat(IO.Posix.AT_FDCWD, from, IO.Posix.AT_FDCWD, to, 0) == 0) return true;
        }
        return IO.Posix.LastError == IO.Posix.EEXIST;
    }

    private static async Task WriteAtomicAsync(string path, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        if (File.Exists(path)) return;
        string tmp = $"{path}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
        try
        {
            await File.WriteAllBytesAsync(tmp, data, ct).ConfigureAwait(false);
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    public async Task<byte[]?> GetAsync(ReadOnlyMemory<byte> id, CancellationToken cancellationToken = default)
    {
        string hex = Convert.ToHexStringLower(id.Span);
        if (!Directory.Exists(_root)) throw new BlockStoreException($"{Url}: store directory does not exist");
        foreach (var p in new[] { TwoLevel(hex), Flat(hex) })
        {
            try
            {
                return await File.ReadAllBytesAsync(p, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
            {
            }
            catch (IOException e)
            {
                throw new BlockStoreException($"{Url}: cannot read block {hex}: {e.Message}", e);
            }
        }
        return null;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
