using System.Buffers.Binary;
using RootfsForge.Disks;
using static RootfsForge.Partitions.MbrFieldLocations;

namespace RootfsForge.Partitions;

/// <summary>
/// Reads a DOS partition table: four primary entries and the EBR chain of an extended partition
/// (docs/disk-formats.md §2.1).
/// </summary>
internal static class MbrReader
{
    internal readonly record struct Entry(int Number, byte Type, long StartLba, long Sectors);

    /// <summary>True when the sector carries <c>55 AA</c> and entries that look like a partition table.</summary>
    public static bool LooksLikeMbr(ReadOnlySpan<byte> sector0, out bool protectiveGpt)
    {
        protectiveGpt = false;
        if (sector0.Length < SectorSize || sector0[Signature] != 0x55 || sector0[Signature + 1] != 0xAA) return false;
        bool any = false;
        for (int i = 0; i < EntryCount; i++)
        {
            var e = sector0.Slice(FirstEntry + i * EntryLength, EntryLength);
            byte status = e[EntryStatus];
            byte type = e[EntryType];
            if (type == PartitionTypes.MbrEmpty) continue;
            if (status is not (0x00 or 0x80)) return false; // a FAT boot sector or other code, not a table
            if (type == PartitionTypes.MbrGptProtective) protectiveGpt = true;
            any = true;
        }
        return any;
    }

    public static List<Entry> Read(BlockSource disk, ReadOnlySpan<byte> sector0, List<string> warnings)
    {
        var result = new List<Entry>();
        long diskSectors = disk.Length / SectorSize;
        for (int i = 0; i < EntryCount; i++)
        {
            var (type, start, sectors) = Parse(sector0, i);
            if (type == PartitionTypes.MbrEmpty || sectors == 0) continue;
            if (PartitionTypes.IsMbrExtended(type))
            {
                ReadLogical(disk, start, sectors, diskSectors, result, warnings);
                continue;
            }
            result.Add(new Entry(i + 1, type, start, sectors));
        }
        return result;
    }

    private static (byte Type, long Start, long Sectors) Parse(ReadOnlySpan<byte> sector, int index)
    {
        var e = sector.Slice(FirstEntry + index * EntryLength, EntryLength);
        return (e[EntryType], BinaryPrimitives.ReadUInt32LittleEndian(e[EntryLbaStart..]),
            BinaryPrimitives.ReadUInt32LittleEndian(e[EntrySectors..]));
    }

    /// <summary>
    /// Walks the EBR chain: entry 1 is a logical partition relative to its EBR, entry 2 the next EBR relative to the
    /// extended partition's start. Bounded and loop-checked.
    /// </summary>
    private static void ReadLogical(BlockSource disk, long extendedStart, long extendedSectors, long diskSectors,
        List<Entry> result, List<string> warnings)
    {
        var seen = new HashSet<long>();
        byte[] ebr = new byte[SectorSize];
        long ebrLba = extendedStart;
        int number = 5;
        for (int hop = 0; ; hop++)
        {
            if (hop >= MaxLogicalPartitions)
            {
                warnings.Add($"extended partition chain longer than {MaxLogicalPartitions} EBRs; stopped");
                return;
            }
            if (!seen.Add(ebrLba))
            {
                warnings.Add($"extended partition chain loops back to LBA {ebrLba}; stopped");
                return;
            }
            if (ebrLba >= diskSectors)
            {
                warnings.Add($"extended boot record at LBA {ebrLba} lies past the end of the disk; stopped");
                return;
            }
            disk.ReadExactlyAt(ebrLba * SectorSize, ebr);
            if (ebr[Signature] != 0x55 || ebr[Signature + 1] != 0xAA)
            {
                warnings.Add($"extended boot record at LBA {ebrLba} has no 55 AA signature; stopped");
                return;
            }
            var (type, start, sectors) = Parse(ebr, 0);
            if (type != PartitionTypes.MbrEmpty && sectors != 0)
                result.Add(new Entry(number++, type, ebrLba + start, sectors));
            var (nextType, nextStart, nextSectors) = Parse(ebr, 1);
            if (nextType == PartitionTypes.MbrEmpty || nextSectors == 0 || !PartitionTypes.IsMbrExtended(nextType)) return;
            if (nextStart >= extendedSectors)
            {
                warnings.Add($"extended boot record at LBA {ebrLba} points outside the extended partition; stopped");
                return;
            }
            ebrLba = extendedStart + nextStart;
        }
    }
}
