using System.Text;

namespace RootfsForge.Tree;

/// <summary>
/// Lossless conversion between Linux file-name bytes and .NET strings. Valid UTF-8 decodes normally; each byte of an
/// invalid sequence becomes the lone surrogate U+DC00+byte (the "surrogateescape" scheme), which strict UTF-8 can never
/// produce, so <see cref="GetBytes(string)"/> restores the original bytes exactly.
/// </summary>
public static class FileNameEncoding
{
    private static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Decodes name bytes into a string, escaping bytes that are not valid UTF-8.</summary>
    public static string GetString(ReadOnlySpan<byte> bytes)
    {
        if (System.Text.Unicode.Utf8.IsValid(bytes)) return Strict.GetString(bytes);
        var sb = new StringBuilder(bytes.Length);
        int i = 0;
        while (i < bytes.Length)
        {
            int len = ValidSequenceLength(bytes[i..]);
            if (len > 0)
            {
                sb.Append(Strict.GetString(bytes.Slice(i, len)));
                i += len;
            }
            else
            {
                sb.Append((char)(0xDC00 + bytes[i]));
                i++;
            }
        }
        return sb.ToString();
    }

    /// <summary>Encodes a string made by <see cref="GetString"/> (or any ordinary string) back into name bytes.</summary>
    public static byte[] GetBytes(string name)
    {
        if (!HasEscapes(name)) return Strict.GetBytes(name);
        var result = new List<byte>(name.Length + 8);
        Span<byte> buf = stackalloc byte[4];
        for (int i = 0; i < name.Length; i++)
        {
            char c = name[i];
            if (c >= 0xDC80 && c <= 0xDCFF && !(i > 0 && char.IsHighSurrogate(name[i - 1])))
            {
                result.Add((byte)(c - 0xDC00));
            }
            else if (char.IsHighSurrogate(c) && i + 1 < name.Length && char.IsLowSurrogate(name[i + 1]))
            {
                int n = Strict.GetBytes(name.AsSpan(i, 2), buf);
                for (int k = 0; k < n; k++) result.Add(buf[k]);
                i++;
            }
            else
            {
                int n = Strict.GetBytes(name.AsSpan(i, 1), buf);
                for (int k = 0; k < n; k++) result.Add(buf[k]);
            }
        }
        return result.ToArray();
    }

    /// <summary>True when the string holds escaped (non-UTF-8) bytes.</summary>
    public static bool HasEscapes(string name)
    {
        for (int i = 0; i < name.Length; i++)
        {
            char c = name[i];
            if (char.IsHighSurrogate(c) && i + 1 < name.Length && char.IsLowSurrogate(name[i + 1]))
            {
                i++;
                continue;
            }
            if (c >= 0xDC80 && c <= 0xDCFF) return true;
        }
        return false;
    }

    /// <summary>Ordinal comparison of two names by their bytes (the sort order of tree walks).</summary>
    public static int CompareBytes(string a, string b)
    {
        if (!HasEscapes(a) && !HasEscapes(b))
        {
            // UTF-8 byte order equals code point order; UTF-16 ordinal differs only for supplementary vs U+E000..U+FFFF.
            return CompareCodePoints(a, b);
        }
        return GetBytes(a).AsSpan().SequenceCompareTo(GetBytes(b));
    }

    private static int CompareCodePoints(string a, string b)
    {
        int i = 0, j = 0;
        while (i < a.Length && j < b.Length)
        {
            int ca = NextCodePoint(a, ref i);
            int cb = NextCodePoint(b, ref j);
            if (ca != cb) return ca < cb ? -1 : 1;
        }
        return (a.Length - i).CompareTo(b.Length - j);
    }

    private static int NextCodePoint(string s, ref int index)
    {
        char c = s[index];
        if (char.IsHighSurrogate(c) && index + 1 < s.Length && char.IsLowSurrogate(s[index + 1]))
        {
            int cp = char.ConvertToUtf32(c, s[index + 1]);
            index += 2;
            return cp;
        }
        index++;
        return c;
    }

    private static int ValidSequenceLength(ReadOnlySpan<byte> s)
    {
        byte b = s[0];
        int len = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 0;
        if (len == 0 || len > s.Length) return 0;
        return System.Text.Unicode.Utf8.IsValid(s[..len]) ? len : 0;
    }
}
