using RootfsForge.Disks;

namespace RootfsForge.Ext4;

/// <summary>
/// An opened ext2/3/4 volume: the device, its superblock and group descriptors, bounds-checked block reads, the checksum
/// policy and the warnings list every reader of the filesystem adds to.
/// </summary>
internal sealed class Ext4Volume
{
    private readonly List<string> _warnings;
    private int _beyondDeviceWarned;

    public Ext4Volume(BlockSource device, Superblock superblock, GroupDescriptor[] groups, bool verifyChecksums, List<string> warnings)
    {
        Device = device;
        Superblock = superblock;
        Groups = groups;
        _warnings = warnings;
        Verify = verifyChecksums && superblock.HasMetadataCsum;
        CsumSeed = superblock.HasMetadataCsum ? superblock.CsumSeed : 0;
    }

    public BlockSource Device { get; }
    public Superblock Superblock { get; }
    public GroupDescriptor[] Groups { get; }
    public int BlockSize => Superblock.BlockSize;

    /// <summary>Verify metadata_csum checksums (asked for, and the filesystem has them).</summary>
    public bool Verify { get; }

    /// <summary>The metadata_csum seed (docs/disk-formats.md §3.13); 0 without metadata_csum.</summary>
    public uint CsumSeed { get; }

    /// <summary>A snapshot of the warnings so far.</summary>
    public string[] Warnings
    {
        get { lock (_warnings) return _warnings.ToArray(); }
    }

    public void Warn(string message)
    {
        lock (_warnings) _warnings.Add(message);
    }

    /// <summary>The checksum seed of one inode: crc32c(crc32c(fs seed, number), generation).</summary>
    public uint InodeSeed(Inode inode) => Crc32C.Compute(Crc32C.Compute(CsumSeed, inode.Number), inode.Generation);

    /// <summary>Reads whole blocks starting at <paramref name="block"/> into <paramref name="destination"/>, checking bounds.</summary>
    /// <param name="block">The first block.</param>
    /// <param name="destination">A multiple of the block size (or less, for the last part of one block).</param>
    /// <param name="what">The structure being read, for messages (<c>ext4 inode 12 directory</c>).</param>
    public void ReadBlocks(long block, Span<byte> destination, string what)
    {
        long count = (destination.Length + BlockSize - 1) / BlockSize;
        if (block < 0 || (ulong)(block + count) > Superblock.BlocksCount)
            throw new ImageFormatException($"block {block} (+{count}) is outside the {Superblock.BlocksCount}-block filesystem", what,
                block >= 0 ? block * BlockSize : null);
        if (!ReadZeroPadded(Device, block * BlockSize, destination) && Interlocked.Exchange(ref _beyondDeviceWarned, 1) == 0)
            Warn($"{what}: block {block} lies past the end of the device; read as zeros");
    }

    /// <summary>Reads; bytes past the end of the device read as zeros. Returns false when some were missing.</summary>
    public static bool ReadZeroPadded(BlockSource device, long offset, Span<byte> destination)
    {
        int done = 0;
        while (done < destination.Length)
        {
            int n = device.ReadAt(offset + done, destination[done..]);
            if (n <= 0) break;
            done += n;
        }
        if (done == destination.Length) return true;
        destination[done..].Clear();
        return false;
    }
}
