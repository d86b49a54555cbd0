using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;

namespace RootfsForge.Sources.Oci;

/// <summary>
/// Verified blobs by digest: <c>ROOT/sha256/HEX</c>. A download is written to <c>ROOT/partial/sha256-HEX</c> (held
/// with an exclusive lock while written) and renamed into place only after its size and digest are checked, so a blob
/// in the cache is always whole and correct; an interrupted download stays in <c>partial/</c> and is resumed.
/// </summary>
internal sealed class BlobCache
{
    private static readonly TimeSpan LockPoll = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan LockWaitLimit = TimeSpan.FromMinutes(30);

    public BlobCache(string root)
    {
        Root = Path.GetFullPath(root);
    }

    public string Root { get; }

    /// <summary><c>$XDG_CACHE_HOME/rootfsforge/blobs</c>, else <c>~/.cache/rootfsforge/blobs</c>.</summary>
    public static string DefaultRoot()
    {
        string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        string baseDir = !string.IsNullOrEmpty(xdg) && Path.IsPathRooted(xdg)
            ? xdg
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(baseDir, "rootfsforge", "blobs");
    }

    public string PathOf(ContentDigest digest) => Path.Combine(Root, "sha256", digest.Hex);

    private string PartialPathOf(ContentDigest digest) => Path.Combine(Root, "partial", "sha256-" + digest.Hex);

    /// <summary>True when the blob is cached with the expected size.</summary>
    public bool Contains(ContentDigest digest, long size)
    {
        var info = new FileInfo(PathOf(digest));
        return info.Exists && info.Length == size;
    }

    /// <summary>
    /// Opens (creating or resuming) the partial file of a blob, waiting while another download of the same blob holds
    /// it. Returns null when the blob became available in the cache meanwhile.
    /// </summary>
    public async Task<PartialBlob?> OpenPartialAsync(ContentDigest digest, long size, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.Combine(Root, "partial"));
        Directory.CreateDirectory(Path.Combine(Root, "sha256"));
        string partialPath = PartialPathOf(digest);
        var waitUntil = DateTime.UtcNow + LockWaitLimit;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            SafeFileHandle handle;
            try
            {
                handle = File.OpenHandle(partialPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (File.Exists(partialPath) && DateTime.UtcNow < waitUntil)
            {
                // Another download (this process or another) holds the lock: wait for it to finish or give up.
                await Task.Delay(LockPoll, cancellationToken).ConfigureAwait(false);
                continue;
            }
            if (IsStale(handle, partialPath))
            {
                // Locked only after the holder renamed (committed) or deleted (discarded) the file we opened: look again.
                handle.Dispose();
                continue;
            }
            if (Contains(digest, size))
            {
                File.Delete(partialPath);
                handle.Dispose();
                return null;
            }
            try
            {
                return await PartialBlob.ResumeAsync(handle, partialPath, PathOf(digest), digest, size, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                handle.Dispose();
                throw;
            }
        }
    }

    /// <summary>
    /// True when <paramref name="handle"/> no longer is the file at <paramref name="path"/>: renamed into the cache or
    /// deleted (Linux: /proc/self/fd shows where an open file now is, or "(deleted)"). Without /proc it is not checked.
    /// </summary>
    private static bool IsStale(SafeFileHandle handle, string path)
    {
        try
        {
            // Compare names only: the folders may be reached through symbolic links.
            var target = new FileInfo($"/proc/self/fd/{handle.DangerousGetHandle()}").LinkTarget;
            return target is not null && (target.EndsWith(" (deleted)", StringComparison.Ordinal) || Path.GetFileName(target) != Path.GetFileName(path));
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }
}

/// <summary>
/// A blob being downloaded into the cache's partial area; hashed as it is written. One writer (the download); a
/// <see cref="DownloadingBlobStream"/> may read what is written meanwhile, watching <see cref="Length"/>,
/// <see cref="Generation"/> and <see cref="Changed"/>.
/// </summary>
internal sealed class PartialBlob : IDisposable
{
    private readonly SafeFileHandle _handle;
    private readonly string _partialPath;
    private readonly string _finalPath;
    private IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _length;
    private int _generation;
    private bool _done;

    private PartialBlob(SafeFileHandle handle, string partialPath, string finalPath, ContentDigest digest, long size)
    {
        _handle = handle;
        _partialPath = partialPath;
        _finalPath = finalPath;
        Digest = digest;
        Size = size;
    }

    public ContentDigest Digest { get; }

    /// <summary>The size the descriptor gives.</summary>
    public long Size { get; }

    /// <summary>Bytes written so far (a resumed download starts above 0); the bytes below it are in the file.</summary>
    public long Length => Volatile.Read(ref _length);

    /// <summary>How many times the blob started over from byte 0 (<see cref="Reset"/>): bytes read before are void.</summary>
    public int Generation => Volatile.Read(ref _generation);

    /// <summary>A task that completes the next time bytes are appended or the blob starts over.</summary>
    public Task Changed => Volatile.Read(ref _changed).Task;

    /// <summary>The partial file, for reading what <see cref="Length"/> says is there.</summary>
    public SafeFileHandle Handle => _handle;

    /// <summary>True when some of the bytes came from an earlier request (a resumed download).</summary>
    public bool Resumed { get; private set; }

    /// <summary>Notes that the next bytes continue earlier ones (a <c>Range</c> request).</summary>
    public void MarkResumed() => Resumed = true;

    internal static async Task<PartialBlob> ResumeAsync(SafeFileHandle handle, string partialPath, string finalPath,
        ContentDigest digest, long size, CancellationToken cancellationToken)
    {
        var blob = new PartialBlob(handle, partialPath, finalPath, digest, size);
        long existing = RandomAccess.GetLength(handle);
        if (existing > size)
        {
            blob.Reset();
            return blob;
        }
        // SHA-256 state cannot be saved, so the bytes already there are hashed again.
        var buffer = new byte[1 << 20];
        long offset = 0;
        while (offset < existing)
        {
            int n = await RandomAccess.ReadAsync(handle, buffer.AsMemory(0, (int)Math.Min(buffer.Length, existing - offset)), offset, cancellationToken).ConfigureAwait(false);
            if (n == 0) break;
            blob._hash.AppendData(buffer, 0, n);
            offset += n;
        }
        blob._length = offset;
        blob.Resumed = offset > 0;
        return blob;
    }

    public async ValueTask AppendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        if (Length + data.Length > Size)
            throw new ImageFormatException($"is larger than the {Size} bytes its descriptor gives", $"blob {Digest}");
        await RandomAccess.WriteAsync(_handle, data, Length, cancellationToken).ConfigureAwait(false);
        _hash.AppendData(data.Span);
        Volatile.Write(ref _length, _length + data.Length); // only after the bytes are in the file
        Pulse();
    }

    private void Pulse() =>
        Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    /// <summary>Starts over from byte 0 (the server ignored the Range request, or the resumed bytes were bad).</summary>
    public void Reset()
    {
        Interlocked.Increment(ref _generation); // before any byte changes, so a reader can tell what it read is void
        RandomAccess.SetLength(_handle, 0);
        _hash.Dispose();
        _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Volatile.Write(ref _length, 0);
        Resumed = false;
        Pulse();
    }

    /// <summary>
    /// Checks size and digest; on success flushes the file to disk and renames it into the cache. On a mismatch the
    /// partial file is deleted and <see cref="ImageFormatException"/> thrown.
    /// </summary>
    public void Commit()
    {
        if (Length != Size)
        {
            Discard();
            throw new ImageFormatException($"is truncated: {Length} of {Size} bytes", $"blob {Digest}");
        }
        var actual = ContentDigest.FromHash(_hash.GetHashAndReset());
        if (actual != Digest)
        {
            Discard();
            throw new ImageFormatException($"content does not match its digest (got {actual}); nothing was kept", $"blob {Digest}");
        }
        RandomAccess.FlushToDisk(_handle);
        File.Move(_partialPath, _finalPath, overwrite: true);
        _done = true;
    }

    /// <summary>Deletes the partial file (content known to be bad).</summary>
    public void Discard()
    {
        if (_done) return;
        File.Delete(_partialPath);
        _done = true;
    }

    public void Dispose()
    {
        _hash.Dispose();
        _handle.Dispose();
    }
}
