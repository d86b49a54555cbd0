using System.Buffers.Binary;
using K4os.Compression.LZ4;
using RootfsForge.IO;

namespace RootfsForge.Kernel;

/// <summary>
/// Reads the LZ4 legacy frame the kernel uses (<c>lz4 -l</c>, scripts/Makefile.lib): magic 02 21 4C 18, then blocks of
/// [u32 compressed size][LZ4 block], each decompressing to at most 8 MiB. The frame ends at end of input, at the
/// kernel's appended size (or padding) where a block size would be, and may be followed by another frame's magic.
/// The framing is read here (no library reads the legacy frame); each block is decoded by K4os.Compression.LZ4.
/// </summary>
internal sealed class Lz4LegacyStream : ForwardReadStream
{
    private const uint Magic = 0x184C2102;
    private const int MaxBlock = 8 << 20;
    private readonly Stream _input;
    private readonly byte[] _compressed = new byte[LZ4Codec.MaximumOutputSize(MaxBlock)];
    private readonly byte[] _block = new byte[MaxBlock];
    private int _blockLength, _blockPosition;
    private bool _end;

    /// <summary>Starts reading a frame at the current position of <paramref name="input"/> (which must be seekable).</summary>
    public Lz4LegacyStream(Stream input)
    {
        if (!input.CanSeek) throw new ArgumentException("the LZ4 legacy frame reader needs a seekable input", nameof(input));
        _input = input;
        long start = input.Position;
        Span<byte> magic = stackalloc byte[4];
        input.ReadExactly(magic);
        if (BinaryPrimitives.ReadUInt32LittleEndian(magic) != Magic) throw new ImageFormatException("bad lz4 legacy magic", "lz4 frame", start);
    }

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
        while (true)
        {
            long at = _input.Position;
            if (_input.ReadAtLeast(size, 4, throwOnEndOfStream: false) < 4)
            {
                _end = true;
                return false;
            }
            uint length = BinaryPrimitives.ReadUInt32LittleEndian(size);
            if (length == Magic) continue; // a concatenated frame
            if (length == 0 || length > _compressed.Length || _input.Position + length > _input.Length)
            {
                _end = true; // the appended uncompressed size or padding: end of frame
                return false;
            }
            _input.ReadExactly(_compressed, 0, (int)length);
            int decoded = LZ4Codec.Decode(_compressed.AsSpan(0, (int)length), _block);
            if (decoded < 0) throw new ImageFormatException("corrupt LZ4 block", "lz4 block", at);
            _blockLength = decoded;
            _blockPosition = 0;
            return true;
        }
    }
}
