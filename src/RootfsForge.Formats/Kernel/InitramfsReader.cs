using System.Text;

namespace RootfsForge.Kernel;

/// <summary>
/// Lists the file names of an initramfs: one or more concatenated cpio "newc" archives (070701/070702), each possibly
/// compressed (gzip, zstd, xz, lz4 legacy, bzip2, lzma), with zero padding between them — the way the kernel's
/// init/initramfs.c unpacks it (an uncompressed early microcode archive usually comes first).
/// </summary>
internal static class InitramfsReader
{
    /// <summary>cpio newc header: "070701", then 13 fields of 8 hex digits (Documentation/driver-api/early-userspace).</summary>
    private static class Newc
    {
        public const int HeaderLength = 110;
        public const int FileSize = 6 + 6 * 8;   // c_filesize
        public const int NameSize = 6 + 11 * 8;  // c_namesize
        public const string Trailer = "TRAILER!!!";
    }

    private const int MaxEntries = 1_000_000;
    private const int MaxName = 4096;
    private const int MaxSegments = 64;

    /// <summary>Every path in the initramfs, in archive order. Throws <see cref="ImageFormatException"/> on a malformed archive.</summary>
    public static IReadOnlyList<string> ListNames(Stream initrd, CancellationToken cancellationToken = default)
    {
        var names = new List<string>();
        if (!initrd.CanSeek) throw new ArgumentException("the initrd stream must be seekable", nameof(initrd));
        var head = new byte[16];
        for (int segment = 0; segment < MaxSegments; segment++)
        {
            // Skip the zero padding between archives.
            int b;
            while ((b = initrd.ReadByte()) == 0) { }
            if (b < 0) break;
            initrd.Position--;
            long start = initrd.Position;
            int n = initrd.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
            initrd.Position = start;
            if (n >= 6 && head.AsSpan(0, 5).SequenceEqual("07070"u8))
            {
                ReadArchives(initrd, names, stopAtTrailer: true, cancellationToken);
                continue;
            }
            var compression = KernelPayload.Detect(head.AsSpan(0, n));
            if (compression == KernelCompression.None)
                throw new ImageFormatException("neither a cpio archive nor a known compression", "initramfs segment", start);
            // A compressed segment: its end is not known without decompressing exactly, and it is almost always the last.
            using var decoder = KernelPayload.Open(initrd, compression);
            ReadArchives(decoder, names, stopAtTrailer: false, cancellationToken);
            break;
        }
        return names;
    }

    /// <summary>Reads cpio archives from a stream (sequentially): one if <paramref name="stopAtTrailer"/>, else until the end.</summary>
    private static void ReadArchives(Stream s, List<string> names, bool stopAtTrailer, CancellationToken ct)
    {
        var header = new byte[Newc.HeaderLength];
        long position = 0; // within this archive stream, for 4-byte alignment
        bool afterTrailer = false;
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            // Between archives in a decompressed stream there may be zero padding too; after a complete archive, a
            // decoder complaining about what follows its frame (padding, the appended size) ends the segment.
            int got;
            try
            {
                got = s.ReadAtLeast(header.AsSpan(0, 1), 1, throwOnEndOfStream: false);
            }
            catch (Exception e) when (afterTrailer && e is not OperationCanceledException)
            {
                return;
            }
            if (got == 0) return;
            if (header[0] == 0) { position++; continue; }
            if (s.ReadAtLeast(header.AsSpan(1), Newc.HeaderLength - 1, throwOnEndOfStream: false) < Newc.HeaderLength - 1)
                throw new ImageFormatException("truncated cpio header", "initramfs cpio", position);
            if (!header.AsSpan(0, 6).SequenceEqual("070701"u8) && !header.AsSpan(0, 6).SequenceEqual("070702"u8))
                throw new ImageFormatException("bad cpio magic", "initramfs cpio", position);
            long fileSize = Hex(header, Newc.FileSize, position);
            long nameSize = Hex(header, Newc.NameSize, position);
            if (nameSize is <= 0 or > MaxName) throw new ImageFormatException($"bad name size {nameSize}", "initramfs cpio", position);
            position += Newc.HeaderLength;
            var nameBuf = new byte[nameSize];
            s.ReadExactly(nameBuf);
            position += nameSize;
            Skip(s, Pad(position));
            position += Pad(position);
            var name = Encoding.UTF8.GetString(nameBuf, 0, (int)nameSize - 1);
            Skip(s, fileSize);
            position += fileSize;
            Skip(s, Pad(position));
            position += Pad(position);
            if (name == Newc.Trailer)
            {
                if (stopAtTrailer) return;
                afterTrailer = true;
                continue;
            }
            afterTrailer = false;
            if (names.Count >= MaxEntries) throw new ImageFormatException("too many cpio entries", "initramfs cpio", position);
            names.Add(name.StartsWith("./", StringComparison.Ordinal) ? name[2..] : name);
        }
    }

    private static long Pad(long position) => (4 - (position & 3)) & 3;

    private static void Skip(Stream s, long count)
    {
        if (count == 0) return;
        if (s.CanSeek)
        {
            if (s.Position + count > s.Length) throw new ImageFormatException("cpio entry runs past the end", "initramfs cpio", s.Position);
            s.Position += count;
            return;
        }
        var buffer = new byte[Math.Min(count, 1 << 16)];
        while (count > 0)
        {
            int n = s.Read(buffer, 0, (int)Math.Min(count, buffer.Length));
            if (n <= 0) throw new ImageFormatException("cpio entry runs past the end", "initramfs cpio", null);
            count -= n;
        }
    }

    private static long Hex(byte[] header, int at, long position)
    {
        long v = 0;
        for (int i = 0; i < 8; i++)
        {
            int c = header[at + i];
            int d = c is >= '0' and <= '9' ? c - '0' : c is >= 'a' and <= 'f' ? c - 'a' + 10 : c is >= 'A' and <= 'F' ? c - 'A' + 10 : -1;
            if (d < 0) throw new ImageFormatException("bad hex digit in cpio header", "initramfs cpio", position + at);
            v = v * 16 + d;
        }
        return v;
    }
}
