using System.Buffers.Binary;
using System.Text;

namespace RootfsForge.Kernel;

/// <summary>
/// The x86 Linux boot protocol header of a bzImage (Documentation/arch/x86/boot.rst) and the ELF checks of docs/zos-vm.md §4.
/// </summary>
internal static class BzImage
{
    /// <summary>Offsets and lengths of the boot-protocol fields used here.</summary>
    private static class Fields
    {
        public const int SetupSects = 0x1F1;     // u8: 512-byte setup sectors after the boot sector (0 means 4)
        public const int BootFlag = 0x1FE;       // u16 0xAA55
        public const int HeaderMagic = 0x202;    // "HdrS"
        public const int Version = 0x206;        // u16 protocol version
        public const int KernelVersion = 0x20E;  // u16: pointer to the version string, minus 0x200
        public const int PayloadOffset = 0x248;  // u32 (protocol 2.08+): from the protected-mode code start
        public const int PayloadLength = 0x24C;  // u32
        public const int MinimumLength = 0x250;
    }

    /// <summary>True when the bytes start like a bzImage: 55 AA at 0x1FE and "HdrS" at 0x202.</summary>
    public static bool IsBzImage(ReadOnlySpan<byte> head) =>
        head.Length >= Fields.MinimumLength && BinaryPrimitives.ReadUInt16LittleEndian(head[Fields.BootFlag..]) == 0xAA55
        && head.Slice(Fields.HeaderMagic, 4).SequenceEqual("HdrS"u8);

    /// <summary>The kernel version string (e.g. "6.1.0-28-amd64"), its first word, or null.</summary>
    public static string? KernelVersion(ReadOnlySpan<byte> image)
    {
        if (!IsBzImage(image)) return null;
        int at = 0x200 + BinaryPrimitives.ReadUInt16LittleEndian(image[Fields.KernelVersion..]);
        if (at <= 0x200 || at >= image.Length) return null;
        var rest = image[at..];
        int end = rest.IndexOfAny((byte)0, (byte)' ');
        if (end <= 0 || end > 256) return null;
        return Encoding.ASCII.GetString(rest[..end]);
    }

    /// <summary>The compressed payload (protocol 2.08+) of a bzImage; throws <see cref="ImageFormatException"/> otherwise.</summary>
    public static (int Offset, int Length) Payload(ReadOnlySpan<byte> image)
    {
        if (!IsBzImage(image)) throw new ImageFormatException("not a bzImage (no 55 AA / HdrS)", "bzImage header", Fields.BootFlag);
        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(image[Fields.Version..]);
        if (version < 0x208)
            throw new UnsupportedImageException($"boot protocol {version >> 8}.{version & 0xFF} has no payload fields (needs 2.08)",
                "bzImage header", Fields.Version);
        int setupSects = image[Fields.SetupSects] == 0 ? 4 : image[Fields.SetupSects];
        long protectedModeStart = (setupSects + 1) * 512L;
        long offset = protectedModeStart + BinaryPrimitives.ReadUInt32LittleEndian(image[Fields.PayloadOffset..]);
        long length = BinaryPrimitives.ReadUInt32LittleEndian(image[Fields.PayloadLength..]);
        if (length == 0 || offset + length > image.Length)
            throw new ImageFormatException($"payload {offset}+{length} lies outside the {image.Length}-byte image",
                "bzImage payload_offset", Fields.PayloadOffset);
        return ((int)offset, (int)length);
    }

    /// <summary>True for an ELF file (7F 'E' 'L' 'F').</summary>
    public static bool IsElf(ReadOnlySpan<byte> head) => head.Length >= 4 && head[..4].SequenceEqual("\u007fELF"u8);

    /// <summary>
    /// True when a 64-bit little-endian ELF has a PT_NOTE with owner "Xen" and type 18 (XEN_ELFNOTE_PHYS32_ENTRY), the
    /// PVH entry point direct-boot hypervisors need. Reads only the program headers and notes (bounded).
    /// </summary>
    public static bool HasPvhNote(Stream elf)
    {
        Span<byte> eh = stackalloc byte[64];
        elf.Position = 0;
        if (elf.ReadAtLeast(eh, 64, throwOnEndOfStream: false) < 64 || !IsElf(eh) || eh[4] != 2 || eh[5] != 1) return false;
        long phoff = BinaryPrimitives.ReadInt64LittleEndian(eh[0x20..]);
        int phentsize = BinaryPrimitives.ReadUInt16LittleEndian(eh[0x36..]);
        int phnum = BinaryPrimitives.ReadUInt16LittleEndian(eh[0x38..]);
        if (phentsize < 56 || phnum > 256 || phoff <= 0 || phoff >= elf.Length) return false;
        var ph = new byte[phentsize];
        for (int i = 0; i < phnum; i++)
        {
            elf.Position = phoff + (long)i * phentsize;
            if (elf.ReadAtLeast(ph, phentsize, throwOnEndOfStream: false) < phentsize) return false;
            if (BinaryPrimitives.ReadUInt32LittleEndian(ph) != 4) continue; // PT_NOTE
            long offset = BinaryPrimitives.ReadInt64LittleEndian(ph.AsSpan(8));
            long size = BinaryPrimitives.ReadInt64LittleEndian(ph.AsSpan(0x20));
            if (offset < 0 || size <= 0 || size > 1 << 20 || offset + size > elf.Length) continue;
            var notes = new byte[size];
            elf.Position = offset;
            elf.ReadExactly(notes);
            if (NotesContainPvh(notes)) return true;
        }
        return false;
    }

    private static bool NotesContainPvh(ReadOnlySpan<byte> notes)
    {
        // Elf64_Nhdr: namesz, descsz, type (u32 each), then name and desc, each padded to 4 bytes.
        while (notes.Length >= 12)
        {
            uint namesz = BinaryPrimitives.ReadUInt32LittleEndian(notes);
            uint descsz = BinaryPrimitives.ReadUInt32LittleEndian(notes[4..]);
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(notes[8..]);
            long nameEnd = 12 + ((namesz + 3L) & ~3L);
            long next = nameEnd + ((descsz + 3L) & ~3L);
            if (next > notes.Length) return false;
            if (type == 18 && namesz == 4 && notes.Slice(12, 4).SequenceEqual("Xen\0"u8)) return true;
            notes = notes[(int)next..];
        }
        return false;
    }
}
