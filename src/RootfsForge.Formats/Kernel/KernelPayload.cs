using System.Buffers.Binary;
using System.IO.Compression;

namespace RootfsForge.Kernel;

/// <summary>The compressions the kernel build uses for the bzImage payload and for initramfs archives, by magic.</summary>
internal enum KernelCompression
{
    /// <summary>Not compressed (or unknown).</summary>
    None,
    /// <summary>gzip, 1F 8B.</summary>
    Gzip,
    /// <summary>xz, FD 37 7A 58 5A 00.</summary>
    Xz,
    /// <summary>zstd, 28 B5 2F FD.</summary>
    Zstd,
    /// <summary>lz4 legacy frame, 02 21 4C 18.</summary>
    Lz4Legacy,
    /// <summary>bzip2, "BZh".</summary>
    Bzip2,
    /// <summary>legacy .lzma (properties byte 0x5D, 13-byte header).</summary>
    Lzma,
    /// <summary>lzop, 89 4C 5A 4F (not supported).</summary>
    Lzo,
}

/// <summary>
/// Decompresses a kernel payload or an initramfs segment in-process (the job of the kernel's scripts/extract-vmlinux).
/// </summary>
internal static class KernelPayload
{
    /// <summary>Largest decompressed kernel accepted (bounds memory and disk use on hostile input).</summary>
    public const long MaxKernelSize = 1L << 30;

    /// <summary>Recognises the compression by its magic bytes.</summary>
    public static KernelCompression Detect(ReadOnlySpan<byte> head)
    {
        if (head.StartsWith((ReadOnlySpan<byte>)[0x1F, 0x8B])) return KernelCompression.Gzip;
        if (head.StartsWith((ReadOnlySpan<byte>)[0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00])) return KernelCompression.Xz;
        if (head.StartsWith((ReadOnlySpan<byte>)[0x28, 0xB5, 0x2F, 0xFD])) return KernelCompression.Zstd;
        if (head.StartsWith((ReadOnlySpan<byte>)[0x02, 0x21, 0x4C, 0x18])) return KernelCompression.Lz4Legacy;
        if (head.StartsWith("BZh"u8)) return KernelCompression.Bzip2;
        if (head.StartsWith((ReadOnlySpan<byte>)[0x89, 0x4C, 0x5A, 0x4F])) return KernelCompression.Lzo;
        if (head.Length >= 13 && head[0] == 0x5D && head[1] == 0 && head[2] == 0) return KernelCompression.Lzma;
        return KernelCompression.None;
    }

    /// <summary>
    /// A stream decompressing <paramref name="input"/> (seekable, positioned at the magic). Corrupt data raises
    /// <see cref="ImageFormatException"/> whichever library decodes it.
    /// </summary>
    public static Stream Open(Stream input, KernelCompression compression)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (!input.CanSeek) throw new ArgumentException("the compressed input must be seekable", nameof(input));
        Stream decoder;
        try
        {
            decoder = OpenDecoder(input, compression);
        }
        catch (Exception e) when (DecoderErrorStream.IsDataError(e))
        {
            throw DecoderErrorStream.Translate(e, compression, 0);
        }
        return new DecoderErrorStream(decoder, compression);
    }

    private static Stream OpenDecoder(Stream input, KernelCompression compression) => compression switch
    {
        KernelCompression.Gzip => new GZipStream(input, CompressionMode.Decompress, leaveOpen: true),
        KernelCompression.Zstd => new ZstdSharp.DecompressionStream(input, leaveOpen: true),
        KernelCompression.Xz => XzDecoder.Open(input),
        KernelCompression.Bzip2 => SharpCompress.Compressors.BZip2.BZip2Stream.Create(input,
            SharpCompress.Compressors.CompressionMode.Decompress, decompressConcatenated: false, leaveOpen: true,
            tolerateTruncatedStream: true),
        KernelCompression.Lzma => OpenLzma(input),
        KernelCompression.Lz4Legacy => new Lz4LegacyStream(input),
        _ => throw new UnsupportedImageException($"{compression} compression is not supported", "kernel payload", 0),
    };

    /// <summary>
    /// Writes the ELF vmlinux inside a bzImage to <paramref name="output"/>; returns the compression found.
    /// Throws <see cref="ImageFormatException"/> when the result is not an ELF.
    /// </summary>
    public static KernelCompression ExtractVmlinux(byte[] bzImage, Stream output, CancellationToken cancellationToken = default)
    {
        var (offset, length) = BzImage.Payload(bzImage);
        var compression = Detect(bzImage.AsSpan(offset, Math.Min(length, 16)));
        if (compression == KernelCompression.None)
            throw new ImageFormatException("unknown payload compression", "bzImage payload", offset);
        // Every payload ends with the decompressed size as u32 (the kernel Makefile's size_append): strip it, check it.
        if (length <= 4) throw new ImageFormatException("payload too short", "bzImage payload", offset);
        uint expected = BinaryPrimitives.ReadUInt32LittleEndian(bzImage.AsSpan(offset + length - 4));
        using var input = new MemoryStream(bzImage, offset, length - 4, writable: false);
        using var decoder = Open(input, compression);
        var buffer = new byte[1 << 16];
        long total = 0;
        int n;
        while ((n = decoder.Read(buffer)) > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (total == 0 && !BzImage.IsElf(buffer.AsSpan(0, n)))
                throw new ImageFormatException($"the {compression} payload does not decompress to an ELF", "bzImage payload", offset);
            total += n;
            if (total > MaxKernelSize) throw new ImageFormatException("decompressed kernel larger than 1 GiB", "bzImage payload", offset);
            output.Write(buffer, 0, n);
        }
        if (total == 0) throw new ImageFormatException("empty payload", "bzImage payload", offset);
        if ((uint)total != expected)
            throw new ImageFormatException($"the payload decompressed to {total} bytes, its trailer says {expected}", "bzImage payload", offset + length - 4);
        return compression;
    }

    private static Stream OpenLzma(Stream input)
    {
        // Legacy .lzma: 5 property bytes, then the u64 uncompressed size (all ones = unknown, end marker present).
        Span<byte> header = stackalloc byte[13];
        input.ReadExactly(header);
        long size = BinaryPrimitives.ReadInt64LittleEndian(header[5..]);
        return SharpCompress.Compressors.LZMA.LzmaStream.Create(header[..5].ToArray(), input, -1,
            size < 0 ? -1 : Math.Min(size, MaxKernelSize), leaveOpen: true);
    }
}
