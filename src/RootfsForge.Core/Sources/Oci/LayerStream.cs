using System.IO.Compression;
using RootfsForge.IO;

namespace RootfsForge.Sources.Oci;

/// <summary>
/// Turns a checked layer blob into its tar: gzip or zstd decompressed, with the output bounded so that a
/// decompression bomb ends in <see cref="ImageFormatException"/> instead of filling a disk.
/// </summary>
internal static class LayerStream
{
    /// <summary>What any layer may expand to, whatever its compressed size.</summary>
    public const long MinimumExpansionAllowance = 256L << 20;

    /// <summary>
    /// Opens the tar of <paramref name="blob"/> (at 0 when it can seek; one that cannot is read from where it stands),
    /// taking ownership of it. The
    /// compression is taken from the blob's magic bytes, as Docker does, so a layer labelled gzip but stored plain (or
    /// the reverse) still reads.
    /// </summary>
    public static async Task<Stream> OpenAsync(Stream blob, long compressedSize, int maxExpansion, string digest,
        CancellationToken cancellationToken = default)
    {
        var magic = new byte[4];
        int n = await blob.ReadAtLeastAsync(magic, magic.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        Stream whole;
        if (blob.CanSeek)
        {
            blob.Position = 0; // a plain layer stays the seekable stream it was
            whole = blob;
        }
        else
        {
            whole = new PrefixedStream(magic.AsMemory(0, n), blob, leaveOpen: false);
        }
        Stream decoder;
        switch (Sniff(magic.AsSpan(0, n)))
        {
            case LayerCompression.Gzip:
                decoder = new GZipStream(whole, CompressionMode.Decompress, leaveOpen: false);
                break;
            case LayerCompression.Zstd:
                decoder = new ZstdSharp.DecompressionStream(whole, leaveOpen: false);
                break;
            default:
                return whole;
        }
        long limit = Math.Max(MinimumExpansionAllowance, checked(compressedSize * Math.Max(1, maxExpansion)));
        return new ExpansionLimitStream(decoder, limit, digest);
    }

    /// <summary>Compression named by the blob's first bytes.</summary>
    public static LayerCompression Sniff(ReadOnlySpan<byte> magic) =>
        magic.Length >= 2 && magic[0] == 0x1F && magic[1] == 0x8B ? LayerCompression.Gzip
        : magic.Length >= 4 && magic[0] == 0x28 && magic[1] == 0xB5 && magic[2] == 0x2F && magic[3] == 0xFD ? LayerCompression.Zstd
        : LayerCompression.None;
}

/// <summary>A read-only decompressing stream that fails past a byte limit and names corrupt compressed data.</summary>
internal sealed class ExpansionLimitStream(Stream inner, long limit, string digest) : Stream
{
    private long _read;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => _read;
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        int n;
        try
        {
            n = inner.Read(buffer);
        }
        catch (Exception e) when (e is InvalidDataException or ZstdSharp.ZstdException)
        {
            throw Corrupt(e);
        }
        return Count(n);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        int n;
        try
        {
            n = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is InvalidDataException or ZstdSharp.ZstdException)
        {
            throw Corrupt(e);
        }
        return Count(n);
    }

    private int Count(int n)
    {
        _read += n;
        if (_read > limit)
            throw new ImageFormatException(
                $"decompresses to more than {limit} bytes, the limit set by OciImageOptions.MaxLayerExpansion (a decompression bomb?)",
                $"layer {digest}");
        return n;
    }

    private ImageFormatException Corrupt(Exception e) =>
        new($"compressed data is corrupt: {e.Message}", $"layer {digest}", _read, e);

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }
}
