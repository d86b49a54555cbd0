using RootfsForge.Disks;

namespace RootfsForge.Partitions;

/// <summary>
/// The partitions of a disk: GPT (protective MBR + <c>EFI PART</c>, primary or backup header), else MBR (with logical
/// partitions), else one pseudo-partition covering a bare filesystem (docs/disk-formats.md §2). Each partition's
/// filesystem is probed.
/// </summary>
public sealed class PartitionTable
{
    private PartitionTable(PartitionScheme scheme, IReadOnlyList<Partition> partitions, IReadOnlyList<string> warnings, int sectorSize)
    {
        Scheme = scheme;
        Partitions = partitions;
        Warnings = warnings;
        SectorSize = sectorSize;
    }

    /// <summary>GPT, MBR or None (a bare filesystem).</summary>
    public PartitionScheme Scheme { get; }

    /// <summary>The partitions in table order (GPT entry order; MBR primaries then logical partitions).</summary>
    public IReadOnlyList<Partition> Partitions { get; }

    /// <summary>Problems that did not stop reading (a damaged primary GPT header, a broken EBR chain, clipped entries).</summary>
    public IReadOnlyList<string> Warnings { get; }

    /// <summary>The logical sector size the table was found with (512 or 4096).</summary>
    public int SectorSize { get; }

    /// <summary>Reads the partition table of <paramref name="disk"/>.</summary>
    /// <exception cref="ImageFormatException">A protective MBR announces a GPT but neither GPT header is valid, or the disk
    /// is too short to read.</exception>
    public static PartitionTable Read(BlockSource disk)
    {
        ArgumentNullException.ThrowIfNull(disk);
        var warnings = new List<string>();
        byte[] sector0 = new byte[MbrFieldLocations.SectorSize];
        int got = disk.ReadAt(0, sector0);
        bool protective = false;
        bool mbr = got == sector0.Length && MbrReader.LooksLikeMbr(sector0, out protective);

        var gpt = GptReader.TryRead(disk, warnings, out int sectorSize);
        if (gpt is not null)
        {
            if (!protective) warnings.Add("GPT found without a protective MBR entry (type 0xEE)");
            return new PartitionTable(PartitionScheme.Gpt, FromGpt(disk, gpt, sectorSize, warnings), warnings, sectorSize);
        }
        if (protective)
            throw new ImageFormatException(
                $"the protective MBR announces a GPT, but neither the primary nor the backup GPT header is valid ({string.Join("; ", warnings)})",
                "GPT header", 512);
        if (mbr)
        {
            warnings.Clear();
            return new PartitionTable(PartitionScheme.Mbr, FromMbr(disk, MbrReader.Read(disk, sector0, warnings), warnings),
                warnings, MbrFieldLocations.SectorSize);
        }

        warnings.Clear();
        var (kind, label, uuid) = FileSystemProbe.Probe(disk);
        if (kind == FileSystemKind.Unknown)
            warnings.Add("no partition table and no known filesystem at offset 0");
        var whole = new Partition
        {
            Number = 0,
            Offset = 0,
            Length = disk.Length,
            TypeName = "whole disk",
            FileSystem = kind,
            FileSystemLabel = label,
            FileSystemUuid = uuid,
        };
        return new PartitionTable(PartitionScheme.None, [whole], warnings, MbrFieldLocations.SectorSize);
    }

    private static List<Partition> FromGpt(BlockSource disk, List<GptReader.Entry> entries, int sectorSize, List<string> warnings)
    {
        var result = new List<Partition>();
        foreach (var e in entries)
        {
            if (!Bounds(disk, e.Number, e.FirstLba, e.LastLba - e.FirstLba + 1, sectorSize, warnings, out long offset, out long length))
                continue;
            result.Add(Probe(disk, new Partition
            {
                Number = e.Number,
                Offset = offset,
                Length = length,
                Name = e.Name,
                TypeGuid = e.Type,
                UniqueGuid = e.Unique,
                TypeName = PartitionTypes.NameOf(e.Type),
            }));
        }
        return result;
    }

    private static List<Partition> FromMbr(BlockSource disk, List<MbrReader.Entry> entries, List<string> warnings)
    {
        var result = new List<Partition>();
        foreach (var e in entries)
        {
            if (!Bounds(disk, e.Number, e.StartLba, e.Sectors, MbrFieldLocations.SectorSize, warnings, out long offset, out long length))
                continue;
            result.Add(Probe(disk, new Partition
            {
                Number = e.Number,
                Offset = offset,
                Length = length,
                MbrType = e.Type,
                TypeName = PartitionTypes.NameOf(e.Type),
            }));
        }
        return result;
    }

    /// <summary>Checks a partition lies on the disk; clips one that runs past the end (warning), skips one that starts past it.</summary>
    private static bool Bounds(BlockSource disk, int number, long firstLba, long sectors, int sectorSize, List<string> warnings,
        out long offset, out long length)
    {
        offset = length = 0;
        long diskSectors = disk.Length / sectorSize;
        if (firstLba < 0 || sectors <= 0 || firstLba >= diskSectors)
        {
            warnings.Add($"partition {number} (LBA {firstLba}, {sectors} sectors) lies outside the {disk.Length}-byte disk; ignored");
            return false;
        }
        if (sectors > diskSectors - firstLba)
        {
            warnings.Add($"partition {number} runs past the end of the disk; clipped to the disk");
            sectors = diskSectors - firstLba;
        }
        offset = firstLba * sectorSize;
        length = sectors * sectorSize;
        return true;
    }

    private static Partition Probe(BlockSource disk, Partition p)
    {
        using var view = disk.Slice(p.Offset, p.Length);
        var (kind, label, uuid) = FileSystemProbe.Probe(view);
        return new Partition
        {
            Number = p.Number,
            Offset = p.Offset,
            Length = p.Length,
            Name = p.Name,
            TypeGuid = p.TypeGuid,
            UniqueGuid = p.UniqueGuid,
            MbrType = p.MbrType,
            TypeName = p.TypeName,
            FileSystem = kind,
            FileSystemLabel = label,
            FileSystemUuid = uuid,
        };
    }
}
