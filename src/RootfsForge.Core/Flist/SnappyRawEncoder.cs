using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace RootfsForge.Flist;

/// <summary>
/// Snappy raw-format encoder with exactly the encoder profile of rfs's compressor (the <c>snap</c> crate;
/// docs/flist-format.md §3.2), so block ids match blocks rfs wrote. Writes into a caller buffer, allocates nothing.
/// </summary>
internal static class SnappyRawEncoder
{
    /// <summary>Input is compressed in independent fragments of this size (docs/flist-format.md §3.2).</summary>
    private const int FragmentSize = 65_536;

    /// <summary>Bytes at a fragment's end never searched for matches (<c>inputMargin</c>).</summary>
    private const int InputMargin = 16 - 1;

    /// <summary>A fragment shorter than this is one literal.</summary>
    private const int MinNonLiteralFragment = 1 + 1 + InputMargin;

    private const int MinTableSize = 1 << 8, MaxTableSize = 1 << 14;
    private const uint HashMultiplier = 0x1E35A7BD;
    private const byte TagLiteral = 0, TagCopy1 = 1, TagCopy2 = 2;

    /// <summary>Upper bound of the encoded length of <paramref name="length"/> input bytes.</summary>
    public static int MaxEncodedLength(int length) => 32 + length + length / 6;

    /// <summary>Encodes <paramref name="source"/>; returns the number of bytes written to <paramref name="destination"/>.</summary>
    public static int Encode(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        if (destination.Length < MaxEncodedLength(source.Length))
            throw new ArgumentException("destination is shorter than MaxEncodedLength", nameof(destination));
        // Preamble: uncompressed length as an unsigned LE base-128 varint (docs/flist-format.md §3.1).
        int d = 0;
        uint v = (uint)source.Length;
        while (v >= 0x80)
        {
            destination[d++] = (byte)(v | 0x80);
            v >>= 7;
        }
        destination[d++] = (byte)v;

        Span<ushort> table = stackalloc ushort[MaxTableSize];
        while (!source.IsEmpty)
        {
            var fragment = source[..Math.Min(FragmentSize, source.Length)];
            source = source[fragment.Length..];
            d += fragment.Length < MinNonLiteralFragment
                ? EmitLiteral(destination[d..], fragment)
                : EncodeFragment(destination[d..], fragment, table);
        }
        return d;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Load32(ref byte src, int i) => Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref src, i));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Load64(ref byte src, int i) => Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref src, i));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Hash(uint u, int shift) => (int)((u * HashMultiplier) >> shift);

    private static int EncodeFragment(Span<byte> dst, ReadOnlySpan<byte> src, Span<ushort> fullTable)
    {
        // Table size: smallest power of two >= fragment length, clamped to 256 … 16 384; reset per fragment.
        int shift = 32 - 8;
        int tableSize = MinTableSize;
        while (tableSize < MaxTableSize && tableSize < src.Length)
        {
            tableSize <<= 1;
            shift--;
        }
        var table = fullTable[..tableSize];
        table.Clear();

        ref byte s0 = ref MemoryMarshal.GetReference(src);
        // Hash values are < tableSize by construction (shift = 32 - log2(tableSize)): unchecked table access is safe.
        ref ushort t0 = ref MemoryMarshal.GetReference(table);
        int length = src.Length;
        int sLimit = length - InputMargin;
        int nextEmit = 0;
        int d = 0;
        int s = 1;
        int nextHash = Hash(Load32(ref s0, s), shift);
        while (true)
        {
            // Search with a skip that grows by one byte every 32 probes without a match.
            int skip = 32;
            int nextS = s;
            int candidate;
            while (true)
            {
                s = nextS;
                int step = skip >> 5;
                nextS = s + step;
                skip += step;
                if (nextS > sLimit) goto EmitRemainder;
                ref ushort slot = ref Unsafe.Add(ref t0, nextHash);
                candidate = slot;
                slot = (ushort)s;
                nextHash = Hash(Load32(ref s0, nextS), shift);
                if (Load32(ref s0, s) == Load32(ref s0, candidate)) break;
            }

            d += EmitLiteral(dst[d..], src[nextEmit..s]);
            while (true)
            {
                // Extend the 4-byte match as far as it goes, then emit the copy.
                int matchBase = s;
                s += 4;
                int i = candidate + 4;
                while (s + 8 <= length)
                {
                    ulong x = Load64(ref s0, s) ^ Load64(ref s0, i);
                    if (x != 0)
                    {
                        s += BitOperations.TrailingZeroCount(x) >> 3;
                        goto Extended;
                    }
                    s += 8;
                    i += 8;
                }
                while (s < length && Unsafe.Add(ref s0, i) == Unsafe.Add(ref s0, s))
                {
                    s++;
                    i++;
                }
            Extended:
                d += EmitCopy(dst[d..], matchBase - candidate, s - matchBase);
                nextEmit = s;
                if (s >= sLimit) goto EmitRemainder;

                // Record s-1, then try an immediate match at s.
                ulong x64 = Load64(ref s0, s - 1);
                Unsafe.Add(ref t0, Hash((uint)x64, shift)) = (ushort)(s - 1);
                ref ushort curr = ref Unsafe.Add(ref t0, Hash((uint)(x64 >> 8), shift));
                candidate = curr;
                curr = (ushort)s;
                if ((uint)(x64 >> 8) != Load32(ref s0, candidate))
                {
                    nextHash = Hash((uint)(x64 >> 16), shift);
                    s++;
                    break;
                }
            }
        }

    EmitRemainder:
        if (nextEmit < length) d += EmitLiteral(dst[d..], src[nextEmit..]);
        return d;
    }

    private static int EmitLiteral(Span<byte> dst, ReadOnlySpan<byte> literal)
    {
        int n = literal.Length - 1;
        int i;
        if (n < 60)
        {
            dst[0] = (byte)((n << 2) | TagLiteral);
            i = 1;
        }
        else if (n < 1 << 8)
        {
            dst[0] = (60 << 2) | TagLiteral;
            dst[1] = (byte)n;
            i = 2;
        }
        else
        {
            // Fragments are at most 64 KiB, so two length bytes always suffice.
            dst[0] = (61 << 2) | TagLiteral;
            BinaryPrimitives.WriteUInt16LittleEndian(dst[1..], (ushort)n);
            i = 3;
        }
        literal.CopyTo(dst[i..]);
        return i + literal.Length;
    }

    private static int EmitCopy(Span<byte> dst, int offset, int length)
    {
        int i = 0;
        while (length >= 68)
        {
            dst[i] = (63 << 2) | TagCopy2;
            BinaryPrimitives.WriteUInt16LittleEndian(dst[(i + 1)..], (ushort)offset);
            i += 3;
            length -= 64;
        }
        if (length > 64)
        {
            dst[i] = (59 << 2) | TagCopy2;
            BinaryPrimitives.WriteUInt16LittleEndian(dst[(i + 1)..], (ushort)offset);
            i += 3;
            length -= 60;
        }
        if (length >= 12 || offset >= 2048)
        {
            dst[i] = (byte)(((length - 1) << 2) | TagCopy2);
            BinaryPrimitives.WriteUInt16LittleEndian(dst[(i + 1)..], (ushort)offset);
            return i + 3;
        }
        dst[i] = (byte)(((offset >> 8) << 5) | ((length - 4) << 2) | TagCopy1);
        dst[i + 1] = (byte)offset;
        return i + 2;
    }
}
