using System.Buffers;
using System.IO.Compression;
using Microsoft.Win32.SafeHandles;
using RootfsForge.IO;
using RootfsForge.Tree;

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
    private readonly Extent[]? _extents; // null: the file holds every byte at its own offset

    private TarArchive(SafeFileHandle handle, long length, string description, Extent[]? extents = null)
    {
        _handle = handle;
        Length = length;
        Description = description;
        _extents = extents;
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
        return await SpoolAsync(Decompress(file, compression), description, temporaryDirectory, null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads a whole archive from <paramref name="stream"/> (plain, gzip or zstd) into a temporary file. With an
    /// <paramref name="encoder"/>, regular files' contents go to it instead of the file (they read back the same).
    /// </summary>
    public static async Task<TarArchive> OpenAsync(Stream stream, string description, string? temporaryDirectory,
        CancellationToken cancellationToken = default, ContentEncoder? encoder = null)
    {
        var magic = new byte[4];
        int n = await stream.ReadAtLeastAsync(magic, magic.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        var compression = Detect(magic.AsSpan(0, n));
        var whole = new PrefixedStream(magic.AsMemory(0, n), stream, leaveOpen: true);
        return await SpoolAsync(compression == Compression.None ? whole : Decompress(whole, compression), description, temporaryDirectory,
            encoder, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads exactly <paramref name="destination"/>.Length bytes at <paramref name="offset"/>.</summary>
    /// <exception cref="ImageFormatException">The archive ends first (<see cref="ImageErrorKind.Truncated"/>).</exception>
    public void ReadExactly(long offset, Span<byte> destination)
    {
        if (_extents is null)
        {
            ReadSpool(offset, destination, offset);
            return;
        }
        while (!destination.IsEmpty)
        {
            if (offset >= Length)
                throw new ImageFormatException("unexpected end of the archive", "tar archive", offset, kind: ImageErrorKind.Truncated)
                    { ImagePath = Description };
            var e = _extents[FindExtent(offset)];
            int n = (int)Math.Min(destination.Length, e.End - offset);
            if (e.Content is { } content) content.ReadExactly(offset - e.Offset, destination[..n]);
            else ReadSpool(e.SpoolOffset + (offset - e.Offset), destination[..n], offset);
            offset += n;
            destination = destination[n..];
        }
    }

    /// <summary>The extent holding <paramref name="offset"/> (which is below <see cref="Length"/>).</summary>
    private int FindExtent(long offset)
    {
        var extents = _extents!;
        int lo = 0, hi = extents.Length - 1;
        while (lo < hi)
        {
            int mid = (lo + hi + 1) >>> 1;
            if (extents[mid].Offset <= offset) lo = mid;
            else hi = mid - 1;
        }
        return lo;
    }

    /// <summary>Reads from the spool file at <paramref name="spoolOffset"/>; <paramref name="offset"/> is the archive's, for errors.</summary>
    private void ReadSpool(long spoolOffset, Span<byte> destination, long offset)
    {
        int done = 0;
        while (done < destination.Length)
        {
            int n = RandomAccess.Read(_handle, destination[done..], spoolOffset + done);
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
        ContentEncoder? encoder, CancellationToken cancellationToken)
    {
        var path = Path.Combine(temporaryDirectory ?? Path.GetTempPath(), $".rootfsforge-tar-{Guid.NewGuid():N}");
        var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
        File.Delete(path); // unlinked while open: nothing is left behind, whatever happens
        var buffer = ArrayPool<byte>.Shared.Rent(SpoolBufferSize);
        var scanner = encoder is null ? null : new TarContentScanner();
        var extents = new List<Extent>();
        var contents = new List<EncodedContent>();
        try
        {
            long length = 0, spooled = 0, contentLeft = 0;
            EncodedContent? content = null;
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
                int kept = filled;
                if (scanner is not null)
                {
                    // Contents go to the encoder; the other bytes move together (a forward copy within the buffer, past
                    // bytes already handed over) and are written as one piece.
                    kept = 0;
                    for (int at = 0; at < filled; at += n)
                    {
                        n = scanner.Next(buffer.AsSpan(at, filled - at), out var kind);
                        if (kind == TarRunKind.ContentStart)
                        {
                            content = encoder!.Begin(scanner.ContentLength);
                            if (content is not null)
                            {
                                contents.Add(content);
                                extents.Add(new Extent(length + at, scanner.ContentLength, 0, content));
                                contentLeft = scanner.ContentLength;
                            }
                        }
                        if (kind == TarRunKind.Other || content is null)
                        {
                            buffer.AsSpan(at, n).CopyTo(buffer.AsSpan(kept));
                            AddKept(extents, length + at, n, spooled + kept);
                            kept += n;
                            continue;
                        }
                        await content.AppendAsync(buffer.AsMemory(at, n), cancellationToken).ConfigureAwait(false);
                        contentLeft -= n;
                    }
                }
                else
                {
                    AddKept(extents, length, filled, spooled);
                }
                if (kept > 0) await RandomAccess.WriteAsync(handle, buffer.AsMemory(0, kept), spooled, cancellationToken).ConfigureAwait(false);
                spooled += kept;
                length += filled;
            }
            if (contentLeft > 0)
            {
                // The archive is cut inside a content: it ends where the bytes did (the member reader reports the cut).
                content!.End();
                var last = extents[^1];
                extents[^1] = last with { Length = last.Length - contentLeft };
            }
            foreach (var c in contents) await c.Encoded.WaitAsync(cancellationToken).ConfigureAwait(false);
            bool inPlace = contents.Count == 0 && extents.Count <= 1;
            return new TarArchive(handle, length, description, inPlace ? null : [.. extents]);
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

    /// <summary>Records <paramref name="length"/> archive bytes at <paramref name="offset"/> kept in the file at <paramref name="spoolOffset"/>.</summary>
    private static void AddKept(List<Extent> extents, long offset, long length, long spoolOffset)
    {
        if (extents.Count > 0 && extents[^1] is { Content: null } last && last.End == offset && last.SpoolOffset + last.Length == spoolOffset)
            extents[^1] = last with { Length = last.Length + length };
        else
            extents.Add(new Extent(offset, length, spoolOffset, null));
    }

    /// <summary>
    /// The content a sink's encoder holds for the <paramref name="length"/> bytes at <paramref name="offset"/>, when exactly
    /// those bytes went to it (one member's whole content); otherwise null.
    /// </summary>
    public EncodedContent? EncodedAt(long offset, long length)
    {
        if (_extents is null || offset >= Length) return null;
        var e = _extents[FindExtent(offset)];
        return e.Content is { } c && e.Offset == offset && e.Length == length && c.Length == length ? c : null;
    }

    /// <summary>
    /// <see cref="Length"/> bytes of the archive at <see cref="Offset"/>: in the spool file at <see cref="SpoolOffset"/>,
    /// or held by an encoder (<see cref="Content"/>, its byte 0 at <see cref="Offset"/>).
    /// </summary>
    private readonly record struct Extent(long Offset, long Length, long SpoolOffset, EncodedContent? Content)
    {
        public long End => Offset + Length;
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
