using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using RootfsForge.NativeTests.Support;

namespace RootfsForge.NativeTests.Reliability;

/// <summary>One fuzz case: which input file it starts from, what was done to it, and how to do it to a copy.</summary>
public sealed record FuzzCase(string Format, int Seed, string Input, string Description, Action<string> Apply)
{
    public override string ToString() => $"{Format} seed {Seed} ({Input}: {Description})";
}

/// <summary>
/// The mutations, each drawn from a <see cref="Random"/> seeded by the case's seed, so that a seed always makes the same
/// case from the same input: header and table fields set to boundary values, bit flips, words overwritten, truncation;
/// .fl rows changed by SQL; pax records rewritten with hostile values (with consistent framing, so they reach the parser
/// behind it) or bytes flipped.
/// </summary>
public static class FuzzMutators
{
    /// <summary>Boundary values a field is set to (cut to the field's size), besides values derived from the original.</summary>
    private static readonly ulong[] Interesting =
    [
        0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 1UL << 40, 1UL << 47, 1UL << 50,
        1UL << 62, long.MaxValue, ulong.MaxValue,
    ];

    // ------------------------------------------------------------------ binary structures (qcow2, ext4)

    public static FuzzCase Binary(string format, int seed, IReadOnlyList<FuzzTarget> targets, bool bigEndian)
    {
        var rng = new Random(seed);
        var t = targets[rng.Next(targets.Count)];
        var edits = new List<(long Offset, byte[] Bytes)>();
        long? truncate = null;
        string what;
        if (t.Name.EndsWith("truncation", StringComparison.Ordinal))
        {
            truncate = t.Offset + rng.NextInt64(t.Length);
            what = $"truncated to {truncate} bytes";
        }
        else if (t.FieldSize is 1 or 2 or 4 && (t.Name.Contains("header ", StringComparison.Ordinal) || t.Name.Contains("superblock ", StringComparison.Ordinal))
                 || t.FieldSize == 8 && t.Length == 8)
        {
            // A named field: a boundary value, a value derived from the original, or one bit flipped.
            byte[] original = ReadAt(t.File, t.Offset, t.FieldSize);
            ulong value = ReadField(original, bigEndian);
            int roll = rng.Next(10);
            ulong next = roll switch
            {
                < 5 => Interesting[rng.Next(Interesting.Length)],
                5 => value + 1,
                6 => value - 1,
                7 => value * 2,
                _ => value ^ (1UL << rng.Next(t.FieldSize * 8)),
            };
            edits.Add((t.Offset, WriteField(next, t.FieldSize, bigEndian)));
            what = $"{t.Name} 0x{value:x} -> 0x{Truncate(next, t.FieldSize):x}";
        }
        else if (t.FieldSize is 8 or 16)
        {
            // A table entry (qcow2 L1/L2/refcount): its first u64 (or an extended L2 bitmap) changed the way corruption does.
            long index = rng.NextInt64(Math.Max(1, t.Length / t.FieldSize));
            long at = t.Offset + index * t.FieldSize + (t.FieldSize == 16 && rng.Next(3) == 0 ? 8 : 0);
            ulong value = ReadField(ReadAt(t.File, at, 8), bigEndian: true);
            long fileLength = new FileInfo(Path.Combine(FuzzInputs.Get().Dir, t.File)).Length;
            int roll = rng.Next(100);
            (ulong next, string how) = roll switch
            {
                < 35 => (value ^ (1UL << rng.Next(64)), "bit flip"),
                < 45 => (value | (1UL << (rng.Next(2) == 0 ? rng.Next(1, 9) : rng.Next(56, 62))), "reserved bit set"),
                < 60 => ((value & 0xFF00_0000_0000_01FF) | (ulong)((fileLength + rng.Next(1, 64) * 65536L) & ~0xFFFFL), "offset past the end"),
                < 70 => (value & 0xFF00_0000_0000_01FF, "offset 0"),
                < 80 => (value ^ (1UL << 62), "compressed bit toggled"),
                < 90 => (value + (ulong)(rng.Next(1, 16) * 512), "offset moved"),
                _ => ((ulong)rng.NextInt64() ^ ((ulong)rng.Next() << 32), "random"),
            };
            edits.Add((at, WriteField(next, 8, bigEndian: true)));
            what = $"{t.Name} entry {index} at {at}: {how} 0x{value:x16} -> 0x{next:x16}";
        }
        else
        {
            long at = t.Offset + rng.NextInt64(Math.Max(1, t.Length));
            int roll = rng.Next(100);
            if (roll < 60)
            {
                byte b = ReadAt(t.File, at, 1)[0];
                int bit = rng.Next(8);
                edits.Add((at, [(byte)(b ^ (1 << bit))]));
                what = $"{t.Name}: bit {bit} of byte {at} flipped";
            }
            else if (roll < 75)
            {
                byte v = (byte)rng.Next(256);
                edits.Add((at, [v]));
                what = $"{t.Name}: byte {at} set to 0x{v:x2}";
            }
            else
            {
                at &= ~3L;
                uint v = rng.Next(3) switch { 0 => 0u, 1 => uint.MaxValue, _ => (uint)rng.Next() };
                edits.Add((at, WriteField(v, 4, bigEndian)));
                what = $"{t.Name}: word at {at} set to 0x{v:x8}";
            }
        }
        return new FuzzCase(format, seed, t.File, what, copy =>
        {
            using var f = new FileStream(copy, FileMode.Open, FileAccess.ReadWrite);
            foreach (var (offset, bytes) in edits)
            {
                f.Position = offset;
                f.Write(bytes);
            }
            if (truncate is long length) f.SetLength(length);
        });
    }

    private static byte[] ReadAt(string file, long offset, int count)
    {
        var b = new byte[count];
        using var f = File.OpenRead(Path.Combine(FuzzInputs.Get().Dir, file));
        f.Position = offset;
        f.ReadAtLeast(b, count, throwOnEndOfStream: false);
        return b;
    }

    private static ulong ReadField(ReadOnlySpan<byte> b, bool bigEndian) => b.Length switch
    {
        1 => b[0],
        2 => bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(b) : BinaryPrimitives.ReadUInt16LittleEndian(b),
        4 => bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(b) : BinaryPrimitives.ReadUInt32LittleEndian(b),
        _ => bigEndian ? BinaryPrimitives.ReadUInt64BigEndian(b) : BinaryPrimitives.ReadUInt64LittleEndian(b),
    };

    private static ulong Truncate(ulong v, int size) => size >= 8 ? v : v & ((1UL << (size * 8)) - 1);

    private static byte[] WriteField(ulong v, int size, bool bigEndian)
    {
        var b = new byte[size];
        switch (size)
        {
            case 1: b[0] = (byte)v; break;
            case 2: if (bigEndian) BinaryPrimitives.WriteUInt16BigEndian(b, (ushort)v); else BinaryPrimitives.WriteUInt16LittleEndian(b, (ushort)v); break;
            case 4: if (bigEndian) BinaryPrimitives.WriteUInt32BigEndian(b, (uint)v); else BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)v); break;
            default: if (bigEndian) BinaryPrimitives.WriteUInt64BigEndian(b, v); else BinaryPrimitives.WriteUInt64LittleEndian(b, v); break;
        }
        return b;
    }

    // ------------------------------------------------------------------ .fl rows (docs/flist-format.md §1)

    public static FuzzCase Flist(int seed, IReadOnlyDictionary<string, long> counts)
    {
        var rng = new Random(seed);
        long Row(string table) => 1 + rng.NextInt64(Math.Max(1, counts[table]));
        string Blob(int n)
        {
            var b = new byte[n];
            rng.NextBytes(b);
            return $"X'{Convert.ToHexString(b)}'";
        }
        string IntValue(string column) => rng.Next(12) switch
        {
            0 => "0",
            1 => "-1",
            2 => "2147483648",
            3 => "4294967296",
            4 => "1099511627776",
            5 => "1125899906842624",
            6 => "9223372036854775807",
            7 => "-9223372036854775808",
            8 => "NULL",
            9 => "'text'",
            10 => column == "mode" ? rng.Next(16).ToString("0", CultureInfo.InvariantCulture) + "0644" : (1 + rng.Next(400)).ToString(CultureInfo.InvariantCulture),
            _ => Blob(4),
        };
        string NameValue() => rng.Next(10) switch
        {
            0 => "''",
            1 => "'.'",
            2 => "'..'",
            3 => "'a/b'",
            4 => "'x' || char(0) || 'y'",
            5 => $"'{new string('n', 300)}'",
            6 => "'/etc/passwd'",
            7 => "NULL",
            8 => "'../../escape'",
            _ => Blob(8),
        };
        string sql = rng.Next(20) switch
        {
            < 7 => rng.Next(9) switch
            {
                0 => $"UPDATE inode SET parent = {IntValue("parent")} WHERE ino = {Row("inode")};",
                1 => $"UPDATE inode SET name = {NameValue()} WHERE ino = {Row("inode")};",
                2 or 3 => $"UPDATE inode SET size = {IntValue("size")} WHERE ino = {Row("inode")};",
                4 => $"UPDATE inode SET mode = {IntValue("mode")} WHERE ino = {Row("inode")};",
                5 => $"UPDATE inode SET uid = {IntValue("uid")}, gid = {IntValue("gid")} WHERE ino = {Row("inode")};",
                6 => $"UPDATE inode SET rdev = {IntValue("rdev")} WHERE ino = {Row("inode")};",
                7 => $"UPDATE inode SET mtime = {IntValue("mtime")} WHERE ino = {Row("inode")};",
                _ => $"UPDATE inode SET ctime = {IntValue("ctime")} WHERE ino = {Row("inode")};",
            },
            < 10 => rng.Next(6) switch
            {
                0 => $"UPDATE block SET id = {Blob(32)} WHERE rowid = {Row("block")};",
                1 => $"UPDATE block SET key = {Blob(32)} WHERE rowid = {Row("block")};",
                2 => $"UPDATE block SET id = {Blob(rng.Next(0, 40))} WHERE rowid = {Row("block")};",
                3 => $"DELETE FROM block WHERE rowid = {Row("block")};",
                4 => $"INSERT INTO block SELECT ino, id, key FROM block WHERE rowid = {Row("block")};",
                _ => $"UPDATE block SET ino = {IntValue("ino")} WHERE rowid = {Row("block")};",
            },
            < 12 => rng.Next(3) switch
            {
                0 => $"UPDATE extra SET data = {NameValue()} WHERE rowid = {Row("extra")};",
                1 => $"UPDATE extra SET data = '{new string('l', 5000)}' WHERE rowid = {Row("extra")};",
                _ => $"UPDATE extra SET ino = {IntValue("ino")} WHERE rowid = {Row("extra")};",
            },
            < 14 => rng.Next(4) switch
            {
                0 => "UPDATE route SET url = 'dir:///nonexistent-rootfsforge-store';",
                1 => "UPDATE route SET url = 'http://127.0.0.1:9/blocks';",
                2 => $"UPDATE route SET start = {IntValue("start")}, \"end\" = {IntValue("end")};",
                _ => "DELETE FROM route;",
            },
            < 15 => $"INSERT OR REPLACE INTO tag VALUES ({NameValue()}, {NameValue()});",
            < 17 => rng.Next(4) switch
            {
                // Parent cycles and a missing root (docs/flist-format.md §2.8).
                0 => $"UPDATE inode SET parent = ino WHERE ino = {Row("inode")};",
                1 => $"UPDATE inode SET parent = {Row("inode")} WHERE ino = 1;",
                2 => "DELETE FROM inode WHERE ino = 1;",
                _ => $"INSERT INTO inode (parent, name, size, uid, gid, mode, rdev, ctime, mtime) VALUES ({Row("inode")}, 'dup', 0, 0, 0, 33188, 0, 0, 0);",
            },
            < 18 => rng.Next(3) switch
            {
                0 => "DROP TABLE extra;",
                1 => "ALTER TABLE inode RENAME COLUMN size TO sz;",
                _ => "DROP TABLE route;",
            },
            _ => $"UPDATE inode SET name = (SELECT name FROM inode WHERE ino = {Row("inode")}) WHERE ino = {Row("inode")};", // duplicate names
        };
        return new FuzzCase("fl", seed, "x.fl", sql, copy => TestEnvironment.RunChecked("sqlite3", [copy, sql]));
    }

    // ------------------------------------------------------------------ pax tar (POSIX pax, ustar)

    /// <summary>A pax or ustar header of a tar file: its offset and, for pax headers, the records.</summary>
    private sealed record TarHeader(long Offset, char Type, long Size, List<(string Key, string Value)> Records);

    private static readonly string[] PaxKeys =
    [
        "size", "path", "linkpath", "mtime", "atime", "uid", "gid", "uname", "GNU.sparse.size", "GNU.sparse.realsize",
        "GNU.sparse.major", "GNU.sparse.minor", "GNU.sparse.name", "GNU.sparse.map", "SCHILY.xattr.user.fuzz",
        "SCHILY.dev", "SCHILY.nlink", "LIBARCHIVE.xattr.user.fuzz",
    ];

    public static FuzzCase Pax(int seed, string dir)
    {
        var rng = new Random(seed);
        string input = FuzzInputs.TarFiles[rng.Next(FuzzInputs.TarFiles.Length)];
        byte[] tar = File.ReadAllBytes(Path.Combine(dir, input));
        var headers = ParseTar(tar);
        var pax = headers.Where(h => h.Type is 'x' or 'g').ToList();
        byte[] result;
        string what;
        int roll = rng.Next(100);
        if (roll < 45 && pax.Count > 0)
        {
            // Rewrite one pax header's records with a hostile value, keeping the framing (lengths, size, checksum) valid.
            var h = pax[rng.Next(pax.Count)];
            var records = h.Records.ToList();
            int i = rng.Next(records.Count + 1);
            string key = i < records.Count && rng.Next(3) > 0 ? records[i].Key : PaxKeys[rng.Next(PaxKeys.Length)];
            string value = HostileValue(rng, key);
            if (i < records.Count) records[i] = (key, value); else records.Add((key, value));
            result = ReplacePax(tar, h, records);
            what = $"pax header at {h.Offset}: {(i < h.Records.Count ? "record " + i : "added")} {key}={Show(value)}";
        }
        else if (roll < 75)
        {
            // A ustar field of any header set to a boundary value, checksum recomputed (mostly) or not.
            var h = headers[rng.Next(headers.Count)];
            result = (byte[])tar.Clone();
            var header = result.AsSpan((int)h.Offset, 512);
            (string field, int offset, int length) = rng.Next(7) switch
            {
                0 or 1 => ("size", 124, 12),
                2 => ("mode", 100, 8),
                3 => ("typeflag", 156, 1),
                4 => ("name", 0, 100),
                5 => ("linkname", 157, 100),
                _ => ("uid", 108, 8),
            };
            byte[] value = field switch
            {
                "size" => rng.Next(4) switch
                {
                    0 => Encoding.ASCII.GetBytes("77777777777\0"),
                    1 => [0x80, 0, 0, 0, 0, 0, 0x04, 0, 0, 0, 0, 0], // base-256: 2^50
                    2 => [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], // base-256: -1
                    _ => Encoding.ASCII.GetBytes("-1234\0\0\0\0\0\0\0"),
                },
                "typeflag" => [(byte)"0125LKxgSDV7M\0"[rng.Next(14)]],
                "name" => Encoding.ASCII.GetBytes(rng.Next(2) == 0 ? "../../escape" : "/etc/passwd"),
                "linkname" => Encoding.ASCII.GetBytes(rng.Next(2) == 0 ? "../../../etc/shadow" : "nonexistent-target"),
                _ => Encoding.ASCII.GetBytes(rng.Next(2) == 0 ? "9999999\0" : "-000001\0"),
            };
            header.Slice(offset, length).Clear();
            value.AsSpan(0, Math.Min(value.Length, length)).CopyTo(header[offset..]);
            bool checksum = rng.Next(10) < 8;
            if (checksum) FixChecksum(header);
            what = $"ustar {field} of the header at {h.Offset} set to {Show(Encoding.Latin1.GetString(value))}{(checksum ? "" : " (checksum left stale)")}";
        }
        else if (roll < 90)
        {
            result = (byte[])tar.Clone();
            var h = headers[rng.Next(headers.Count)];
            long at = h.Offset + rng.Next(512 + (int)Math.Min(h.Size, 1024));
            int bit = rng.Next(8);
            result[at] ^= (byte)(1 << bit);
            what = $"bit {bit} of byte {at} flipped (header at {h.Offset})";
        }
        else
        {
            int length = rng.Next(tar.Length);
            result = tar.AsSpan(0, length).ToArray();
            what = $"truncated to {length} bytes";
        }
        return new FuzzCase("pax", seed, input, what, copy => File.WriteAllBytes(copy, result));
    }

    private static string HostileValue(Random rng, string key)
    {
        bool numeric = key is "size" or "mtime" or "atime" or "uid" or "gid" or "GNU.sparse.size" or "GNU.sparse.realsize"
            or "GNU.sparse.major" or "GNU.sparse.minor" or "SCHILY.dev" or "SCHILY.nlink";
        if (numeric && rng.Next(4) > 0)
            return rng.Next(10) switch
            {
                0 => "1125899906842624",           // 2^50
                1 => "1099511627776",              // 2^40
                2 => "9223372036854775807",
                3 => "18446744073709551616",       // 2^64
                4 => "-1",
                5 => "1e30",
                6 => "12.5",
                7 => "",
                8 => "0",
                _ => "99999999999999999999999999",
            };
        if (key == "GNU.sparse.map")
            return rng.Next(3) switch { 0 => "0,1125899906842624", 1 => "-5,10", _ => "1,2,3" };
        return rng.Next(8) switch
        {
            0 => "/etc/passwd",
            1 => "../../escape",
            2 => "a/../../b",
            3 => "",
            4 => new string('p', 5000),
            5 => "x\0y",
            6 => "dir/sub/../../..",
            _ => "fuzz",
        };
    }

    private static string Show(string s) =>
        s.Length > 40 ? $"'{s[..20]}…' ({s.Length} chars)" : "'" + s.Replace("\0", "\\0", StringComparison.Ordinal) + "'";

    private static List<TarHeader> ParseTar(byte[] tar)
    {
        var headers = new List<TarHeader>();
        long pos = 0;
        while (pos + 512 <= tar.Length)
        {
            var h = tar.AsSpan((int)pos, 512);
            if (h.IndexOfAnyExcept((byte)0) < 0) break;
            long size = ParseOctal(h.Slice(124, 12));
            char type = (char)h[156];
            var records = new List<(string, string)>();
            if (type is 'x' or 'g' && pos + 512 + size <= tar.Length)
                records = ParseRecords(tar.AsSpan((int)(pos + 512), (int)size));
            headers.Add(new TarHeader(pos, type, size, records));
            pos += 512 + (size + 511) / 512 * 512;
        }
        return headers;
    }

    private static long ParseOctal(ReadOnlySpan<byte> field)
    {
        long v = 0;
        foreach (byte b in field)
        {
            if (b is < (byte)'0' or > (byte)'7') break;
            v = v * 8 + (b - '0');
        }
        return v;
    }

    private static List<(string, string)> ParseRecords(ReadOnlySpan<byte> data)
    {
        var records = new List<(string, string)>();
        int pos = 0;
        while (pos < data.Length)
        {
            int space = data[pos..].IndexOf((byte)' ');
            if (space <= 0 || !int.TryParse(Encoding.ASCII.GetString(data.Slice(pos, space)), out int length) || length <= space
                || pos + length > data.Length)
                break;
            var record = Encoding.UTF8.GetString(data.Slice(pos + space + 1, length - space - 2));
            int eq = record.IndexOf('=');
            if (eq > 0) records.Add((record[..eq], record[(eq + 1)..]));
            pos += length;
        }
        return records;
    }

    /// <summary>The tar with the pax header <paramref name="h"/>'s data replaced by <paramref name="records"/>.</summary>
    private static byte[] ReplacePax(byte[] tar, TarHeader h, List<(string Key, string Value)> records)
    {
        var data = new MemoryStream();
        foreach (var (key, value) in records)
        {
            // "%d %s=%s\n" where the length counts itself.
            int body = Encoding.UTF8.GetByteCount(key) + Encoding.UTF8.GetByteCount(value) + 3;
            int length = body;
            while (body + Digits(length) != length) length = body + Digits(length);
            data.Write(Encoding.UTF8.GetBytes($"{length} {key}={value}\n"));
        }
        byte[] content = data.ToArray();
        long oldEnd = h.Offset + 512 + (h.Size + 511) / 512 * 512;
        var result = new MemoryStream();
        result.Write(tar, 0, (int)h.Offset);
        byte[] header = tar.AsSpan((int)h.Offset, 512).ToArray();
        header.AsSpan(124, 12).Clear();
        Encoding.ASCII.GetBytes(Convert.ToString(content.Length, 8).PadLeft(11, '0')).CopyTo(header, 124);
        FixChecksum(header);
        result.Write(header);
        result.Write(content);
        result.Write(new byte[(512 - content.Length % 512) % 512]);
        result.Write(tar, (int)oldEnd, tar.Length - (int)oldEnd);
        return result.ToArray();
    }

    private static int Digits(int n) => n.ToString(CultureInfo.InvariantCulture).Length;

    private static void FixChecksum(Span<byte> header)
    {
        header.Slice(148, 8).Fill((byte)' ');
        int sum = 0;
        foreach (byte b in header) sum += b;
        Encoding.ASCII.GetBytes(Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ").CopyTo(header[148..]);
    }
}
