using System.Security.Cryptography;

namespace RootfsForge.IO;

/// <summary>
/// An output file that appears under its final name only when complete: writes go to <c>.&lt;name&gt;.tmp-&lt;random&gt;</c> in
/// the target's folder; <see cref="Commit"/> flushes, fsyncs and renames it into place; disposing without committing
/// deletes the temporary file, so a failed run never leaves a half-written output.
/// </summary>
internal sealed class AtomicFile : IDisposable
{
    private readonly FileStream _stream;
    private bool _committed;
    private bool _disposed;

    /// <summary>Creates the temporary file beside <paramref name="path"/>.</summary>
    /// <param name="path">The final path; its folder must exist.</param>
    public AtomicFile(string path)
    {
        FinalPath = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(FinalPath) ?? throw new ArgumentException($"'{path}' has no folder", nameof(path));
        if (Directory.Exists(FinalPath)) throw new IOException($"output '{FinalPath}' is a directory");
        var suffix = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        TemporaryPath = Path.Combine(dir, $".{Path.GetFileName(FinalPath)}.tmp-{suffix}");
        _stream = new FileStream(TemporaryPath, new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.ReadWrite,
            Share = FileShare.None,
            BufferSize = 0,
        });
    }

    /// <summary>The path the file gets on <see cref="Commit"/>.</summary>
    public string FinalPath { get; }

    /// <summary>The temporary path being written.</summary>
    public string TemporaryPath { get; }

    /// <summary>The stream over the temporary file (unbuffered; wrap it for small writes).</summary>
    public Stream Stream => _stream;

    /// <summary>
    /// Flushes the written bytes to disk (fsync). <see cref="Commit"/> does it too; calling it first lets a caller check for
    /// cancellation after the slow part and before the file appears.
    /// </summary>
    public void Flush()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!_committed) _stream.Flush(flushToDisk: true);
    }

    /// <summary>Flushes to disk and renames the temporary file to <see cref="FinalPath"/>, replacing any file there.</summary>
    public void Commit()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_committed) return;
        _stream.Flush(flushToDisk: true);
        _stream.Dispose();
        File.Move(TemporaryPath, FinalPath, overwrite: true);
        _committed = true;
        FsyncDirectory(Path.GetDirectoryName(FinalPath)!);
    }

    /// <summary>Closes the file; deletes it unless <see cref="Commit"/> succeeded.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        try
        {
            _stream.Dispose();
        }
        catch (IOException)
        {
            // The temporary file is deleted below; a flush error on abort is not interesting.
        }
        if (!_committed)
        {
            try
            {
                File.Delete(TemporaryPath);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
    }

    /// <summary>Makes the rename durable (fsync of the folder); best effort, as the data itself is already on disk.</summary>
    private static void FsyncDirectory(string dir)
    {
        try
        {
            using var fd = Posix.OpenAt(null, dir, Posix.O_RDONLY | Posix.O_DIRECTORY);
            Posix.Fsync(fd, dir);
        }
        catch (IOException)
        {
        }
    }
}
