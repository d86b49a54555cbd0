using System.Buffers;
using System.IO.Compression;
using Microsoft.Win32.SafeHandles;
using RootfsForge.IO;

namespace RootfsForge.Tar;

/// <summary>
/// One tar archive's bytes, readable at any offset: a plain archive file is read in place; a gzip or zstd archive
/// (detected by its magic) or a stream is first decompressed into an unlinked temporary file, so members' contents can
/// be served at random offsets however the archive arrived (docs/tar-output.md §10). Contents read from it stay valid until
/// it is disposed. Reads are synchronous: the bytes are in a local file (as every local image's are read).
/// </summary>
internal sealed class TarArchive : IDisposable
{
    private const int SpoolBufferSize = 1 << 20;

    private readonly SafeFileHandle _handle;

    private TarArchive(SafeFileHandle handle, long length, string description)
    {
        _handle = handle;
        Length = length;
        Description = description;
    }

    /// <summary>The archive's (decompressed) length in bytes.</summary>
    public long Length { get; }

    /// <summary>The file path, or a description of the stream, for errors and warnings.</summary>
    public string Description { get; }

    /// <summary>Opens the archive file <paramref name="path"/>.</summary>
    /// <param name="path">A plain, gzip or zstd tar archive.</param>
    /// <param name="temporaryDirectory">Where a compressed archive is decompressed to; null for the system's.</param>
    /// <param name="cancellationToken">Stops the decompression.</param>
    public static Task<TarArchive> OpenAsync(string path, string? temporaryDirectory, CancellationToken cancellationToken = default) =>
        OpenAsync(File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read), path, temporaryDirectory, cancellationToken);

    /// <summary>Opens the archive file behind <paramref name="handle"/>, which it owns from then on (and disposes on failure).</summary>
    public static async Task<TarArchive> OpenAsync(SafeFileHandle handle, string description, string? temporaryDirectory,
        CancellationToken cancellationToken = default)
    {
        Compression compression;
        try
        {
            var magic = new byte[4];
            int n = RandomAccess.Read(handle, magic, 0);
            compression = Detect(magic.AsSpan(0, n));
            if (compression == Compression.None) return new TarArchive(handle, RandomAccess.GetLength(handle), description);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
        await using var file = new FileStream(handle, FileAccess.Read, 1 << 16); // closes the handle once the copy is made
        return await SpoolAsync(Decompress(file, compression), description, temporaryDirectory, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads a whole archive from <paramref name="stream"/> (plain, gzip or zstd) into a temporary file.</summary>
    public static async Task<TarArchive> OpenAsync(Stream stream, string description, string? temporaryDirectory,
        CancellationToken cancellationToken = default)
    {
        var magic = new byte[4];
        int n = await stream.ReadAtLeastAsync(magic, magic.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        var compression = Detect(magic.AsSpan(0, n));
        var whole = new PrefixedStream(magic.AsMemory(0, n), stream, leaveOpen: true);
        return await SpoolAsync(compression == Compression.None ? whole : Decompress(whole, compression), description, temporaryDirectory,
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads exactly <paramref name="destination"/>.Length bytes at <paramref name="offset"/>.</summary>
    /// <exception cref="ImageFormatException">The archive ends first (<see cref="ImageErrorKind.Truncated"/>).</exception>
    public void ReadExactly(long offset, Span<byte> destination)
    {
        int done = 0;
        while (done < destination.Length)
        {
            int n = RandomAccess.Read(_handle, destination[done..], offset + done);
            if (n <= 0)
                throw new ImageFormatException("unexpected end of the archive", "tar archive", offset + done, kind: ImageErrorKind.Truncated)
                    { ImagePath = Description };
            done += n;
        }
    }

    /// <summary>Closes the archive (a temporary copy disappears with its last handle).</summary>
    public void Dispose() => _handle.Dispose();

    private enum Compression
    {
        None,
        Gzip,
        Zstd,
    }

    private static Compression Detect(ReadOnlySpan<byte> magic) =>
        magic.Length >= 2 && magic[0] == 0x1F && magic[1] == 0x8B ? Compression.Gzip
        : magic.Length >= 4 && magic[0] == 0x28 && magic[1] == 0xB5 && magic[2] == 0x2F && magic[3] == 0xFD ? Compression.Zstd
        : Compression.None;

    private static Stream Decompress(Stream s, Compression kind) => kind switch
    {
        Compression.Gzip => new GZipStream(s, CompressionMode.Decompress, leaveOpen: true),
        _ => new ZstdSharp.DecompressionStream(s, leaveOpen: true),
    };

    private static async Task<TarArchive> SpoolAsync(Stream source, string description, string? temporaryDirectory,
        CancellationToken cancellationToken)
    {
        var path = Path.Combine(temporaryDirectory ?? Path.GetTempPath(), $".rootfsforge-tar-{Guid.NewGuid():N}");
        var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
        File.Delete(path); // unlinked while open: nothing is left behind, whatever happens
        var buffer = ArrayPool<byte>.Shared.Rent(SpoolBufferSize);
        try
        {
            long length = 0;
            while (true)
            {
                // A decompressor hands out a little at a time (what one 8 KiB read of its input gives): the buffer is
                // filled before it is written, one write per MiB instead of dozens (each a system call).
                int filled = 0, n;
                while (filled < buffer.Length
                    && (n = await ReadDecompressedAsync(source, buffer.AsMemory(filled), description, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    filled += n;
                }
                if (filled == 0) break;
                await RandomAccess.WriteAsync(handle, buffer.AsMemory(0, filled), length, cancellationToken).ConfigureAwait(false);
                length += filled;
            }
            return new TarArchive(handle, length, description);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            await source.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static async ValueTask<int> ReadDecompressedAsync(Stream source, Memory<byte> buffer, string description, CancellationToken cancellationToken)
    {
        try
        {
            return await source.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidDataException e)
        {
            throw new ImageFormatException($"compressed data is corrupt: {e.Message}", "tar compression", null, e) { ImagePath = description };
        }
        catch (ZstdSharp.ZstdException e)
        {
            throw new ImageFormatException($"zstd data is corrupt: {e.Message}", "tar compression", null, e) { ImagePath = description };
        }
    }
}
