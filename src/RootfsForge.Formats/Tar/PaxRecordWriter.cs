using System.Buffers;
using System.Buffers.Text;
using System.Text;

namespace RootfsForge.Tar;

/// <summary>
/// Builds the body of a pax extended header: records <c>"%d %s=%s\n"</c> where the leading decimal counts the whole
/// record including itself (POSIX pax, "pax Extended Header"). Values are bytes, so binary xattr values pass unchanged.
/// Reused across entries; no allocation per record once the buffer has grown.
/// </summary>
internal sealed class PaxRecordWriter
{
    private byte[] _buffer = new byte[4096];
    private int _length;

    public int Length => _length;

    public ReadOnlySpan<byte> Written => _buffer.AsSpan(0, _length);

    public ReadOnlyMemory<byte> WrittenMemory => _buffer.AsMemory(0, _length);

    public void Clear() => _length = 0;

    public void Add(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        int body = 1 + key.Length + 1 + value.Length + 1; // ' ' key '=' value '\n'
        int digits = CountDigits(body);
        if (CountDigits(body + digits) != digits) digits++;
        int total = body + digits;
        Ensure(total);
        var dst = _buffer.AsSpan(_length, total);
        Utf8Formatter.TryFormat(total, dst, out int n);
        dst[n++] = (byte)' ';
        key.CopyTo(dst[n..]);
        n += key.Length;
        dst[n++] = (byte)'=';
        value.CopyTo(dst[n..]);
        n += value.Length;
        dst[n] = (byte)'\n';
        _length += total;
    }

    public void Add(ReadOnlySpan<byte> key, long value)
    {
        Span<byte> digits = stackalloc byte[24];
        Utf8Formatter.TryFormat(value, digits, out int n);
        Add(key, digits[..n]);
    }

    public void Add(string key, ReadOnlySpan<byte> value)
    {
        int max = Encoding.UTF8.GetMaxByteCount(key.Length);
        byte[]? rented = null;
        Span<byte> k = max <= 256 ? stackalloc byte[max] : (rented = ArrayPool<byte>.Shared.Rent(max));
        int n = Encoding.UTF8.GetBytes(key, k);
        Add(k[..n], value);
        if (rented is not null) ArrayPool<byte>.Shared.Return(rented);
    }

    private void Ensure(int extra)
    {
        if (_length + extra <= _buffer.Length) return;
        Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + extra));
    }

    private static int CountDigits(int v)
    {
        int d = 1;
        while (v >= 10)
        {
            v /= 10;
            d++;
        }
        return d;
    }
}
