using Microsoft.Win32.SafeHandles;
using RootfsForge.IO;
using RootfsForge.Tree;

namespace RootfsForge.Stores;

/// <summary>
/// <c>dir:///path</c>: one file per block named by the lowercase hex id. Writes both layouts, flat <c>{root}/{hex}</c> (what
/// rfs 2.0.6 reads) and two-level <c>{root}/{hex[0..2]}/{hex}</c> (newer rfs); reads two-level, then flat
/// (docs/flist-format.md §6). The two-level name is a hard link to the flat file where the filesystem allows it, so the
/// second layout costs neither space nor a second write.
/// </summary>
internal sealed class DirectoryBlockStore : IBlockStore
{
    private readonly string _root;
    private readonly bool[] _prefixCreated = new bool[256];
    private bool _unnamedFiles = true;

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
            int prefix = id.Span[0];
            if (!Volatile.Read(ref _prefixCreated[prefix]))
            {
                Directory.CreateDirectory(Path.Combine(_root, hex[..2]));
                Volatile.Write(ref _prefixCreated[prefix], true);
            }
            if (TryWriteUnnamed(hex, data.Span)) return;
            await WriteAtomicAsync(Flat(hex), data, cancellationToken).ConfigureAwait(false);
            if (!TryLink(Flat(hex), TwoLevel(hex)))
                await WriteAtomicAsync(TwoLevel(hex), data, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BlockStoreException($"{Url}: cannot write block {hex}: {e.Message}", e);
        }
    }

    /// <summary>
    /// Writes the block as an unnamed file (<c>O_TMPFILE</c>, open(2)) and links it under both names only once it is
    /// complete: a reader or a crash never sees a partial block, and no temporary name is left behind. False, with
    /// nothing written, where the filesystem has no <c>O_TMPFILE</c> or /proc is not mounted (then the caller writes
    /// a temporary file and renames it).
    /// </summary>
    private bool TryWriteUnnamed(string hex, ReadOnlySpan<byte> data)
    {
        if (!Volatile.Read(ref _unnamedFiles)) return false;
        SafeFileHandle fd;
        try
        {
            fd = Posix.OpenAt(null, _root, Posix.O_TMPFILE | Posix.O_WRONLY, 0x1B6);
        }
        catch (IOException e) when (Posix.Errno(e) is Posix.EOPNOTSUPP or Posix.EISDIR or Posix.EINVAL)
        {
            Volatile.Write(ref _unnamedFiles, false);
            return false;
        }
        using (fd)
        {
            Posix.WriteAt(fd, data, 0, Flat(hex));
            // Named through /proc/self/fd with AT_SYMLINK_FOLLOW: linkat's AT_EMPTY_PATH would need CAP_DAC_READ_SEARCH.
            var self = System.Text.Encoding.ASCII.GetBytes(Posix.FdPath(fd));
            int first = Link(self, Flat(hex));
            if (first == Posix.ENOENT && !Directory.Exists("/proc/self/fd"))
            {
                Volatile.Write(ref _unnamedFiles, false); // no /proc: nothing was named
                return false;
            }
            if (first != 0) throw Posix.Error("link", Flat(hex), first);
            int second = Link(self, TwoLevel(hex));
            if (second != 0) throw Posix.Error("link", TwoLevel(hex), second);
            return true;
        }
    }

    /// <summary>
    /// Names the file behind <paramref name="procFd"/> (a /proc/self/fd path) <paramref name="path"/>; 0 or the errno.
    /// EEXIST counts as success: a name is the hash of its content, so whoever wrote it first wrote the same bytes.
    /// </summary>
    private static int Link(byte[] procFd, string path)
    {
        int errno = Posix.TryLinkAt(null, procFd, null, FileNameEncoding.GetBytes(path), Posix.AT_SYMLINK_FOLLOW);
        return errno == Posix.EEXIST ? 0 : errno;
    }

    /// <summary>Links <paramref name="path"/> to <paramref name="existing"/>; false when the filesystem cannot (then copy).</summary>
    private static bool TryLink(string existing, string path) =>
        Posix.TryLinkAt(null, FileNameEncoding.GetBytes(existing), null, FileNameEncoding.GetBytes(path)) is 0 or Posix.EEXIST;

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
