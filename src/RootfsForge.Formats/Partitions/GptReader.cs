using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using RootfsForge.Disks;
using static RootfsForge.Partitions.GptFieldLocations;

namespace RootfsForge.Partitions;

/// <summary>
/// Reads a GUID partition table: the primary header at LBA 1, else the backup at the last LBA (docs/disk-formats.md §2.2).
/// Header and entry-array checksums are the IEEE CRC-32 of System.IO.Hashing.
/// </summary>
internal static class GptReader
{
    internal readonly record struct Entry(int Number, Guid Type, Guid Unique, long FirstLba, long LastLba, string? Name);

    /// <summary>Finds a valid GPT; null when neither header is valid for either sector size.</summary>
    public static List<Entry>? TryRead(BlockSource disk, List<string> warnings, out int sectorSize)
    {
        var problems = new List<string>();
        foreach (int size in (ReadOnlySpan<int>)[512, 4096])
        {
            if (TryReadAt(disk, size, 1, problems) is { } primary)
            {
                sectorSize = size;
                return primary;
            }
        }
        foreach (int size in (ReadOnlySpan<int>)[512, 4096])
        {
            long last = disk.Length / size - 1;
            if (last < 2) continue;
            if (TryReadAt(disk, size, last, problems) is { } backup)
            {
                var primaryProblems = problems.Where(p => p.Contains("LBA 1 ")).ToList();
                warnings.Add(primaryProblems.Count == 0
                    ? $"primary GPT header is missing; using the backup header at LBA {last}"
                    : $"primary GPT header is damaged ({string.Join("; ", primaryProblems)}); using the backup header at LBA {last}");
                sectorSize = size;
                return backup;
            }
        }
        sectorSize = 0;
        if (problems.Count > 0) warnings.AddRange(problems.Distinct());
        return null;
    }

    private static List<Entry>? TryReadAt(BlockSource disk, int sectorSize, long lba, List<string> problems)
    {
        long at = lba * sectorSize;
        if (at + sectorSize > disk.Length) return null;
        byte[] sector = new byte[sectorSize];
        disk.ReadExactlyAt(at, sector);
        if (!sector.AsSpan(Signature, 8).SequenceEqual(SignatureValue)) return null;

        string where = $"GPT header at LBA {lba} ({sectorSize}-byte sectors)";
        uint headerSize = BinaryPrimitives.ReadUInt32LittleEndian(sector.AsSpan(HeaderSize));
        if (headerSize < MinHeaderSize || headerSize > sectorSize)
        {
            problems.Add($"{where}: header_size {headerSize} is invalid");
            return null;
        }
        uint storedCrc = BinaryPrimitives.ReadUInt32LittleEndian(sector.AsSpan(HeaderCrc32));
        byte[] copy = sector.AsSpan(0, (int)headerSize).ToArray();
        BinaryPrimitives.WriteUInt32LittleEndian(copy.AsSpan(HeaderCrc32), 0);
        if (Crc32.HashToUInt32(copy) != storedCrc)
        {
            problems.Add($"{where}: header CRC32 mismatch");
            return null;
        }
        ulong myLba = BinaryPrimitives.ReadUInt64LittleEndian(sector.AsSpan(MyLba));
        if (myLba != (ulong)lba)
        {
            problems.Add($"{where}: my_lba is {myLba}");
            return null;
        }
        ulong entriesLba = BinaryPrimitives.ReadUInt64LittleEndian(sector.AsSpan(EntriesLba));
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(sector.AsSpan(EntryCount));
        uint entrySize = BinaryPrimitives.ReadUInt32LittleEndian(sector.AsSpan(EntrySize));
        if (entrySize < MinEntrySize || entrySize % MinEntrySize != 0 || (ulong)count * entrySize > MaxEntryArrayBytes)
        {
            problems.Add($"{where}: {count} entries of {entrySize} bytes is not a valid entry array");
            return null;
        }
        int arrayBytes = (int)(count * entrySize);
        ulong diskSectors = (ulong)(disk.Length / sectorSize);
        if (entriesLba >= diskSectors || (ulong)arrayBytes > (diskSectors - entriesLba) * (ulong)sectorSize)
        {
            problems.Add($"{where}: entry array at LBA {entriesLba} lies outside the disk");
            return null;
        }
        byte[] array = new byte[arrayBytes];
        disk.ReadExactlyAt((long)entriesLba * sectorSize, array);
        if (Crc32.HashToUInt32(array) != BinaryPrimitives.ReadUInt32LittleEndian(sector.AsSpan(EntriesCrc32)))
        {
            problems.Add($"{where}: entry array CRC32 mismatch");
            return null;
        }

        var entries = new List<Entry>();
        for (int i = 0; i < count; i++)
        {
            var e = array.AsSpan(i * (int)entrySize, (int)entrySize);
            var type = new Guid(e.Slice(EntryTypeGuid, 16)); // mixed-endian, as .NET's Guid(bytes) expects
            if (type == Guid.Empty) continue;
            ulong first = BinaryPrimitives.ReadUInt64LittleEndian(e[EntryFirstLba..]);
            ulong last = BinaryPrimitives.ReadUInt64LittleEndian(e[EntryLastLba..]);
            string name = Encoding.Unicode.GetString(e.Slice(EntryName, EntryNameLength)).Split('\0')[0];
            entries.Add(new Entry(i + 1, type, new Guid(e.Slice(EntryUniqueGuid, 16)),
                (long)Math.Min(first, long.MaxValue), (long)Math.Min(last, long.MaxValue), name.Length == 0 ? null : name));
        }
        return entries;
    }
}
