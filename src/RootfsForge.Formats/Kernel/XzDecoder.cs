using System.Buffers.Binary;
using SharpCompress.Compressors.Xz;

namespace RootfsForge.Kernel;

/// <summary>
/// Opens an .xz stream (tukaani xz-file-format 1.2). Streams without a BCJ filter are decoded by SharpCompress's
/// <see cref="XZStream"/>. Streams whose blocks put the x86 BCJ filter before LZMA2 — the kernel's bzImage payload,
/// written by scripts/xz_wrap.sh as <c>xz --check=crc32 --x86 --lzma2</c> — are decoded here, because SharpCompress
/// cannot: its <c>X86Filter.Read</c> (src/SharpCompress/Compressors/Xz/Filters/X86Filter.cs, 0.50.8) runs
/// <c>BranchExecFilter.X86Converter</c> over the caller's whole buffer from index 0, ignoring the offset and the number of
/// bytes read, and keeps no look-ahead for a call/jump whose 4-byte operand straddles two reads, so XZStream fails
/// every such file with "Block check corrupt" (native-tests/RootfsForge.IntegrationTests/Formats/Kernel/KernelPayloadTests.cs pins this; drop this path when that
/// test starts failing). Here the container is parsed, LZMA2 is still decoded by SharpCompress's LzmaStream, and only
/// the BCJ filter is undone, on the whole block at once. That output is held in memory, bounded by
/// <see cref="KernelPayload.MaxKernelSize"/>.
/// </summary>
internal static class XzDecoder
{
    private static class Ids
    {
        public const ulong Bcj86 = 0x04;
        public const ulong Lzma2 = 0x21;
    }

    private const int StreamHeaderLength = 12;
    private static ReadOnlySpan<byte> HeaderMagic => [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00];

    /// <summary>One block header's filter chain and sizes (xz-file-format §3.1).</summary>
    private readonly record struct BlockHeader(long CompressedSize, long UncompressedSize, bool Bcj, uint BcjStart, byte Dictionary);

    /// <summary>A decoder for the .xz stream at the current position of <paramref name="input"/> (which must be seekable).</summary>
    public static Stream Open(Stream input)
    {
        if (!input.CanSeek) throw new ArgumentException("the xz reader needs a seekable input", nameof(input));
        long start = input.Position;
        ReadStreamHeader(input, start);
        int sizeByte = input.ReadByte();
        bool bcj = sizeByte > 0 && ReadBlockHeader(input, input.Position - 1, sizeByte).Bcj;
        input.Position = start;
        return bcj ? DecodeWithBcj(input) : new XZStream(input);
    }

    private static int ReadStreamHeader(Stream input, long start)
    {
        Span<byte> header = stackalloc byte[StreamHeaderLength];
        input.ReadExactly(header);
        if (!header[..6].SequenceEqual(HeaderMagic)) throw new ImageFormatException("bad xz magic", "xz stream header", start);
        // The check's size by check id (xz-file-format §2.1.1.2).
        return (header[7] & 0x0F) switch { 0 => 0, var c => c <= 3 ? 4 : c <= 6 ? 8 : c <= 9 ? 16 : c <= 12 ? 32 : 64 };
    }

    private static MemoryStream DecodeWithBcj(Stream input)
    {
        int checkSize = ReadStreamHeader(input, input.Position);
        var output = new MemoryStream();
        for (int block = 0; block < 1 << 16; block++)
        {
            long blockStart = input.Position;
            int sizeByte = input.ReadByte();
            if (sizeByte <= 0) break; // 0x00: the index follows; -1: truncated (take what we have)
            var header = ReadBlockHeader(input, blockStart, sizeByte);
            long dataStart = input.Position;
            long outStart = output.Length;
            using (var lzma2 = SharpCompress.Compressors.LZMA.LzmaStream.Create([header.Dictionary], input, header.CompressedSize,
                       header.UncompressedSize, null, isLzma2: true, leaveOpen: true))
            {
                var buffer = new byte[1 << 16];
                int n;
                while ((n = lzma2.Read(buffer, 0, buffer.Length)) > 0)
                {
                    output.Write(buffer, 0, n);
                    if (output.Length > KernelPayload.MaxKernelSize)
                        throw new ImageFormatException("xz output larger than 1 GiB", "xz block", blockStart, kind: ImageErrorKind.LimitExceeded);
                }
            }
            if (header.Bcj) X86BcjDecode(output.GetBuffer().AsSpan((int)outStart, (int)(output.Length - outStart)), header.BcjStart);
            // Without a size in the header, the LZMA2 decoder's position is the end of the data (it stops at the end chunk).
            long next = header.CompressedSize >= 0 ? dataStart + header.CompressedSize : input.Position;
            long padding = (4 - (next - blockStart) % 4) % 4;
            input.Position = next;
            for (int i = 0; i < padding; i++)
                if (input.ReadByte() != 0) throw new ImageFormatException("non-zero xz block padding", "xz block", next);
            input.Position = next + padding + checkSize;
        }
        output.Position = 0;
        return output;
    }

    /// <summary>Reads the rest of a block header whose first (size) byte was <paramref name="sizeByte"/>.</summary>
    private static BlockHeader ReadBlockHeader(Stream input, long blockStart, int sizeByte)
    {
        int headerSize = (sizeByte + 1) * 4;
        var bh = new byte[headerSize];
        bh[0] = (byte)sizeByte;
        input.ReadExactly(bh, 1, headerSize - 1);
        int flags = bh[1];
        int filters = (flags & 3) + 1;
        int p = 2;
        long compressedSize = -1, uncompressedSize = -1;
        if ((flags & 0x40) != 0) compressedSize = (long)VarInt(bh, ref p, blockStart);
        if ((flags & 0x80) != 0) uncompressedSize = (long)VarInt(bh, ref p, blockStart);
        bool bcj = false;
        uint bcjStart = 0;
        byte? dictionary = null;
        for (int f = 0; f < filters; f++)
        {
            ulong id = VarInt(bh, ref p, blockStart);
            int propsSize = (int)VarInt(bh, ref p, blockStart);
            if (p + propsSize > headerSize - 4) throw new ImageFormatException("filter properties overrun the block header", "xz block header", blockStart);
            if (id == Ids.Bcj86 && f < filters - 1)
            {
                bcj = true;
                if (propsSize == 4) bcjStart = BinaryPrimitives.ReadUInt32LittleEndian(bh.AsSpan(p));
            }
            else if (id == Ids.Lzma2 && f == filters - 1 && propsSize == 1) dictionary = bh[p];
            else throw new UnsupportedImageException($"xz filter 0x{id:x} is not supported (only x86 BCJ + LZMA2)", "xz block header", blockStart);
            p += propsSize;
        }
        if (dictionary is null) throw new ImageFormatException("xz block without LZMA2", "xz block header", blockStart);
        return new BlockHeader(compressedSize, uncompressedSize, bcj, bcjStart, dictionary.Value);
    }

    private static ulong VarInt(byte[] b, ref int p, long at)
    {
        ulong v = 0;
        for (int i = 0; i < 9; i++)
        {
            if (p >= b.Length) throw new ImageFormatException("truncated variable-length integer", "xz block header", at);
            byte x = b[p++];
            v |= (ulong)(x & 0x7F) << (7 * i);
            if ((x & 0x80) == 0) return v;
        }
        throw new ImageFormatException("variable-length integer too long", "xz block header", at);
    }

    /// <summary>
    /// The x86 BCJ decoder (xz's simple/x86.c): E8/E9 (call/jmp rel32) operands were converted to absolute addresses
    /// by the encoder; convert them back. <paramref name="start"/> is the filter's start offset.
    /// </summary>
    internal static void X86BcjDecode(Span<byte> buf, uint start)
    {
        ReadOnlySpan<bool> allowed = [true, true, true, false, true, false, false, false];
        ReadOnlySpan<byte> bitNumber = [0, 1, 2, 2, 3, 3, 3, 3];
        if (buf.Length <= 4) return;
        int size = buf.Length - 4;
        long prevPos = -1;
        uint prevMask = 0;
        for (int i = 0; i < size; i++)
        {
            if ((buf[i] & 0xFE) != 0xE8) continue;
            long distance = i - prevPos;
            if (distance > 3)
            {
                prevMask = 0;
            }
            else
            {
                prevMask = (prevMask << (int)(distance - 1)) & 7;
                if (prevMask != 0)
                {
                    byte b = buf[i + 4 - bitNumber[(int)prevMask]];
                    if (!allowed[(int)prevMask] || IsMsByte(b))
                    {
                        prevPos = i;
                        prevMask = (prevMask << 1) | 1;
                        continue;
                    }
                }
            }
            prevPos = i;
            if (IsMsByte(buf[i + 4]))
            {
                uint src = BinaryPrimitives.ReadUInt32LittleEndian(buf[(i + 1)..]);
                uint dest;
                while (true)
                {
                    dest = src - (start + (uint)i + 5);
                    if (prevMask == 0) break;
                    int j = bitNumber[(int)prevMask] * 8;
                    byte b = (byte)(dest >> (24 - j));
                    if (!IsMsByte(b)) break;
                    src = dest ^ ((1u << (32 - j)) - 1);
                }
                dest &= 0x01FFFFFF;
                dest |= 0u - (dest & 0x01000000);
                BinaryPrimitives.WriteUInt32LittleEndian(buf[(i + 1)..], dest);
                i += 4;
            }
            else
            {
                prevMask = (prevMask << 1) | 1;
            }
        }
    }

    private static bool IsMsByte(byte b) => b is 0x00 or 0xFF;
}
