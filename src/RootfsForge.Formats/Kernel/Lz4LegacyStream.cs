using System.Buffers.Binary;

namespace RootfsForge.Kernel;

/// <summary>
/// Reads the LZ4 legacy frame the kernel uses (lz4 -l): magic 02 21 4C 18, then blocks of [u32 compressed size][LZ4 block],
/// each decompressing to at most 8 MiB. The frame ends at end of input, at the next magic, or at the kernel's appended size.
/// </summary>
internal sealed class Lz4LegacyStream : Stream
{
    private const uint Magic = 0x184C2102;
    private const int MaxBlock = 8 << 20;
    private readonly Stream _input;
    private readonly byte[] _compressed = new byte[LZ4CompressBound(MaxBlock)];
    private readonly byte[] _block = new byte[MaxBlock];
    private int _blockLength, _blockPosition;
    private bool _end;

    public Lz4LegacyStream(Stream input)
    {
        _input = input;
        Span<byte> magic = stackalloc byte[4];
        input.ReadExactly(magic);
        if (BinaryPrimitives.ReadUInt32LittleEndian(magic) != Magic) throw new ImageFormatException("bad lz4 legacy magic", "lz4 frame", 0);
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> destination)
    {
        while (_blockPosition == _blockLength)
        {
            if (_end || !NextBlock()) return 0;
        }
        int n = Math.Min(destination.Length, _blockLength - _blockPosition);
        _block.AsSpan(_blockPosition, n).CopyTo(destination);
        _blockPosition += n;
        return n;
    }

    private bool NextBlock()
    {
        Span<byte> size = stackalloc byte[4];
        if (_input.ReadAtLeast(size, 4, throwOnEndOfStream: false) < 4) { _end = true; return false; }
        uint length = BinaryPrimitives.ReadUInt32LittleEndian(size);
        if (length == Magic) return NextBlock(); // a concatenated frame
        if (length == 0 || length > _compressed.Length || _input.Position + length > _input.Length)
        {
            _end = true; // the appended uncompressed size or padding: end of frame
            return false;
        }
        _input.ReadExactly(_compressed, 0, (int)length);
        _blockLength = DecodeBlock(_compressed.AsSpan(0, (int)length), _block);
        _blockPosition = 0;
        return true;
    }

    /// <summary>Decodes one LZ4 block (sequences of token, literals, offset, match) into <paramref name="output"/>.</summary>
    internal static int DecodeBlock(ReadOnlySpan<byte> src, Span<byte> output)
    {
        int s = 0, d = 0;
        while (s < src.Length)
        {
            int token = src[s++];
            int literals = token >> 4;
            if (literals == 15) literals += ReadLength(src, ref s);
            if (s + literals > src.Length || d + literals > output.Length) throw Corrupt(s);
            src.Slice(s, literals).CopyTo(output[d..]);
            s += literals;
            d += literals;
            if (s == src.Length) break; // the last sequence has literals only
            if (s + 2 > src.Length) throw Corrupt(s);
            int distance = src[s] | (src[s + 1] << 8);
            s += 2;
            int match = (token & 15) + 4;
            if ((token & 15) == 15) match += ReadLength(src, ref s);
            if (distance == 0 || distance > d || d + match > output.Length) throw Corrupt(s);
            for (int i = 0; i < match; i++, d++) output[d] = output[d - distance]; // may overlap: byte by byte
        }
        return d;
    }

    private static int ReadLength(ReadOnlySpan<byte> src, ref int s)
    {
        int total = 0, b;
        do
        {
            if (s >= src.Length) throw Corrupt(s);
            b = src[s++];
            total += b;
            if (total > MaxBlock) throw Corrupt(s);
        } while (b == 255);
        return total;
    }

    private static ImageFormatException Corrupt(int at) => new("corrupt LZ4 block", "lz4 block", at);

    private static int LZ4CompressBound(int size) => size + size / 255 + 16;

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
