using System.Buffers;
using System.Buffers.Binary;
using RootfsForge.Disks;
using RootfsForge.Tree;

namespace RootfsForge.Ext4;

/// <summary>
/// A read-only ext2/ext3/ext4 filesystem on a <see cref="BlockSource"/>, read in-process (no mount): its superblock facts,
/// its tree as a stream of <see cref="TreeEntry"/> values, and single lookups.
/// </summary>
/// <remarks>
/// Safe for one walk at a time; content readers returned by <see cref="TreeEntry.OpenContent"/> may be used from other
/// threads. Disposing does not dispose the device passed to <see cref="Open"/>.
/// </remarks>
public sealed partial class Ext4FileSystem : ITreeSource, IDisposable
{
    internal const uint RootInode = 2;


    private readonly Ext4Options _options;
    private readonly BlockSource? _ownedDevice;
    private readonly GroupDescriptor[] _groups;
    private readonly List<string> _warnings;
    private readonly InodeTableCache _inodeCache;
    private readonly Dictionary<ulong, ExtendedAttribute[]> _xattrBlockCache = [];
    private readonly uint _csumSeed;
    private readonly bool _verify;
    private int _beyondDeviceWarned;

    private Ext4FileSystem(BlockSource device, Superblock sb, GroupDescriptor[] groups, Ext4Options options,
        List<string> warnings, bool replayed, BlockSource? ownedDevice)
    {
        Device = device;
        Superblock = sb;
        _groups = groups;
        _options = options;
        _warnings = warnings;
        _ownedDevice = ownedDevice;
        _verify = options.VerifyChecksums && sb.HasMetadataCsum;
        _csumSeed = sb.HasMetadataCsum ? sb.CsumSeed : 0;
        _inodeCache = new InodeTableCache(this);
        Info = Ext4Info.From(sb, replayed);
    }

    /// <summary>Superblock facts.</summary>
    public Ext4Info Info { get; }

    /// <inheritdoc />
    public IReadOnlyList<string> Warnings
    {
        get { lock (_warnings) return _warnings.ToArray(); }
    }

    internal BlockSource Device { get; }
    internal Superblock Superblock { get; }
    internal int BlockSize => Superblock.BlockSize;
    internal Ext4Options Options => _options;

    /// <summary>
    /// Opens the filesystem on <paramref name="device"/> (the partition or whole image holding it). Reads the superblock
    /// (falling back to the group-1 backup when the primary is unusable) and the group descriptors; replays the journal
    /// in memory when needed and possible.
    /// </summary>
    /// <exception cref="UnsupportedImageException">The filesystem uses a feature this reader refuses (§3.2).</exception>
    /// <exception cref="ImageFormatException">The superblock or the group descriptors are corrupt.</exception>
    public static Ext4FileSystem Open(BlockSource device, Ext4Options? options = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        options ??= new Ext4Options();
        var warnings = new List<string>();
        var fs = OpenCore(device, options, warnings, replayed: false, ownedDevice: null);
        if (!fs.Info.NeedsRecovery) return fs;

        const string notReplayed = "needs_recovery: the journal was not replayed; the last writes may be missing";
        if (!options.ReplayJournal)
        {
            fs.Warn(notReplayed + " (journal replay disabled)");
            return fs;
        }
        uint journalInode = fs.Superblock.JournalInum;
        if ((fs.Superblock.Compat & CompatFeatures.HasJournal) == 0 || journalInode == 0)
        {
            fs.Warn(notReplayed + " (the journal is external or missing)");
            return fs;
        }
        BlockSource overlay;
        try
        {
            var map = fs.MapInodeBlock(journalInode);
            long count = fs.InodeBlockCount(journalInode);
            overlay = Journal.Jbd2Journal.Replay(device, fs.BlockSize, map, count, fs.Warn);
        }
        catch (ImageFormatException e)
        {
            fs.Warn($"{notReplayed} (the journal is unreadable: {e.Message})");
            return fs;
        }
        // Everything (superblock, descriptors, inodes) is read again through the replayed view. The replayer returns the
        // device itself when the journal is clean; that one stays the caller's.
        return OpenCore(overlay, options, warnings, replayed: true,
            ownedDevice: ReferenceEquals(overlay, device) ? null : overlay);
    }

    private static Ext4FileSystem OpenCore(BlockSource device, Ext4Options options, List<string> warnings, bool replayed,
        BlockSource? ownedDevice)
    {
        void Warn(string m)
        {
            lock (warnings) warnings.Add(m);
            options.OnWarning?.Invoke(m);
        }

        var sb = ReadSuperblock(device, options, Warn);
        CheckFeatures(sb);
        if ((ulong)device.Length / (ulong)sb.BlockSize < sb.BlocksCount)
            Warn($"the filesystem has {sb.BlocksCount} blocks but the device holds only {device.Length / sb.BlockSize}; missing blocks read as zeros");
        var groups = ReadGroupDescriptors(device, sb, options, Warn);
        return new Ext4FileSystem(device, sb, groups, options, warnings, replayed, ownedDevice);
    }

    private static Superblock ReadSuperblock(BlockSource device, Ext4Options options, Action<string> warn)
    {
        Span<byte> buf = stackalloc byte[Superblock.Size];
        ImageFormatException primaryError;
        try
        {
            ReadZeroPadded(device, Superblock.PrimaryOffset, buf);
            var sb = Superblock.Read(buf, Superblock.PrimaryOffset);
            if (!options.VerifyChecksums || !sb.HasMetadataCsum || sb.StoredChecksum == sb.ComputedChecksum) return sb;
            primaryError = new ImageFormatException(
                $"checksum mismatch (stored 0x{sb.StoredChecksum:x8}, computed 0x{sb.ComputedChecksum:x8})",
                "ext4 superblock", Superblock.PrimaryOffset);
        }
        catch (UnsupportedImageException)
        {
            throw;
        }
        catch (ImageFormatException e)
        {
            primaryError = e;
        }

        // The first backup lives at the start of group 1; its position depends on the (unknown) block size.
        for (int log = 0; log <= 6; log++)
        {
            long blockSize = 1024L << log;
            long block = log == 0 ? 8193 : 8 * blockSize;
            long offset = block * blockSize;
            if (offset + Superblock.Size > device.Length) break;
            try
            {
                ReadZeroPadded(device, offset, buf);
                var sb = Superblock.Read(buf, offset);
                // Old mke2fs versions left s_block_group_nr 0 in backups.
                if (sb.BlockSize != blockSize || sb.BlockGroupNr > 1) continue;
                if (options.VerifyChecksums && sb.HasMetadataCsum && sb.StoredChecksum != sb.ComputedChecksum) continue;
                warn($"the primary superblock is unusable ({primaryError.Message}); using the backup in group 1 at byte {offset}");
                return sb;
            }
            catch (ImageFormatException)
            {
            }
        }
        throw primaryError;
    }

    private static void CheckFeatures(Superblock sb)
    {
        const string what = "ext4 superblock";
        var incompat = sb.Incompat;
        if ((incompat & IncompatFeatures.Compression) != 0)
            throw new UnsupportedImageException("the filesystem uses the 'compression' feature, which is not supported", what, Superblock.PrimaryOffset);
        if ((incompat & IncompatFeatures.JournalDev) != 0)
            throw new UnsupportedImageException("this is an external journal device ('journal_dev'), not a filesystem", what, Superblock.PrimaryOffset);
        if ((incompat & IncompatFeatures.DirData) != 0)
            throw new UnsupportedImageException("the filesystem uses the 'dirdata' feature, which is not supported", what, Superblock.PrimaryOffset);
        const IncompatFeatures supported = IncompatFeatures.FileType | IncompatFeatures.Recover | IncompatFeatures.MetaBg
            | IncompatFeatures.Extents | IncompatFeatures.Bit64 | IncompatFeatures.Mmp | IncompatFeatures.FlexBg
            | IncompatFeatures.EaInode | IncompatFeatures.CsumSeed | IncompatFeatures.LargeDir | IncompatFeatures.InlineData
            | IncompatFeatures.Encrypt | IncompatFeatures.Casefold;
        uint unknown = (uint)(incompat & ~supported);
        if (unknown != 0)
        {
            int bit = System.Numerics.BitOperations.TrailingZeroCount(unknown);
            throw new UnsupportedImageException($"the filesystem uses an unknown incompatible feature (FEATURE_I{bit}, 0x{1u << bit:x})", what, Superblock.PrimaryOffset);
        }
    }

    private static GroupDescriptor[] ReadGroupDescriptors(BlockSource device, Superblock sb, Ext4Options options, Action<string> warn)
    {
        ulong groupCount = sb.GroupCount;
        const ulong maxGroups = 1 << 22;
        if (groupCount > maxGroups)
            throw new ImageFormatException($"{groupCount} block groups is beyond the supported {maxGroups}", "ext4 superblock", Superblock.PrimaryOffset);
        int bs = sb.BlockSize;
        int descSize = sb.DescSize;
        int perBlock = bs / descSize;
        long descBlocks = (long)((groupCount + (ulong)perBlock - 1) / (ulong)perBlock);
        bool metaBg = (sb.Incompat & IncompatFeatures.MetaBg) != 0;
        long firstMetaBg = metaBg ? sb.FirstMetaBg : long.MaxValue;
        if (metaBg && firstMetaBg > descBlocks)
        {
            warn($"s_first_meta_bg {sb.FirstMetaBg} exceeds the {descBlocks} descriptor blocks; using the classic layout");
            firstMetaBg = descBlocks;
        }
        long classicBase = (bs == 1024 && sb.FirstDataBlock == 0) ? 1 : sb.FirstDataBlock;
        long tableBlocks = ((long)sb.InodesPerGroup * sb.InodeSize + bs - 1) / bs;
        bool verify = options.VerifyChecksums && sb.HasMetadataCsum;
        uint seed = sb.HasMetadataCsum ? sb.CsumSeed : 0;

        var groups = new GroupDescriptor[groupCount];
        byte[] block = ArrayPool<byte>.Shared.Rent(bs);
        try
        {
            for (long db = 0; db < descBlocks; db++)
            {
                long location;
                if (db < firstMetaBg)
                {
                    location = classicBase + 1 + db;
                }
                else
                {
                    ulong g = (ulong)db * (ulong)perBlock;
                    location = (long)(sb.FirstDataBlock + g * sb.BlocksPerGroup + (sb.GroupHasSuper(g) ? 1UL : 0UL));
                }
                long offset = location * bs;
                if ((ulong)location >= sb.BlocksCount)
                    throw new ImageFormatException($"group descriptor block {db} would be at block {location}, outside the filesystem", "ext4 group descriptor table", offset);
                ReadZeroPadded(device, offset, block.AsSpan(0, bs));
                for (int i = 0; i < perBlock; i++)
                {
                    ulong group = (ulong)db * (ulong)perBlock + (ulong)i;
                    if (group >= groupCount) break;
                    var d = block.AsSpan(i * descSize, descSize);
                    long dOffset = offset + i * descSize;
                    if (verify)
                    {
                        ushort stored = GroupDescriptor.StoredChecksum(d), computed = GroupDescriptor.ComputeChecksum(seed, (uint)group, d);
                        if (stored != computed)
                            throw new Ext4ChecksumException($"checksum mismatch (stored 0x{stored:x4}, computed 0x{computed:x4})", $"ext4 group descriptor {group}", dOffset);
                    }
                    var gd = GroupDescriptor.Read(d, sb.Is64Bit);
                    if (gd.InodeTable == 0 || gd.InodeTable >= sb.BlocksCount || gd.InodeTable + (ulong)tableBlocks > sb.BlocksCount)
                        throw new ImageFormatException($"inode table at block {gd.InodeTable} (+{tableBlocks}) is outside the {sb.BlocksCount}-block filesystem", $"ext4 group descriptor {group}", dOffset);
                    groups[group] = gd;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(block);
        }
        return groups;
    }

    /// <summary>Reads; bytes past the end of the device read as zeros. Returns false when some were missing.</summary>
    private static bool ReadZeroPadded(BlockSource device, long offset, Span<byte> destination)
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

    /// <summary>Reads whole blocks starting at <paramref name="block"/> into <paramref name="destination"/>, checking bounds.</summary>
    internal void ReadBlocks(long block, Span<byte> destination, string what)
    {
        long count = (destination.Length + BlockSize - 1) / BlockSize;
        if (block < 0 || (ulong)(block + count) > Superblock.BlocksCount)
            throw new ImageFormatException($"block {block} (+{count}) is outside the {Superblock.BlocksCount}-block filesystem", what, block * BlockSize);
        if (!ReadZeroPadded(Device, block * BlockSize, destination) && Interlocked.Exchange(ref _beyondDeviceWarned, 1) == 0)
            Warn($"{what}: block {block} lies past the end of the device; read as zeros");
    }

    internal void Warn(string message)
    {
        lock (_warnings) _warnings.Add(message);
        _options.OnWarning?.Invoke(message);
    }

    /// <summary>Reads and parses inode <paramref name="number"/>.</summary>
    internal Inode ReadInode(uint number)
    {
        string what = $"ext4 inode {number}";
        if (number == 0 || number > Superblock.InodesCount)
            throw new ImageFormatException($"inode number {number} is outside 1…{Superblock.InodesCount}", what);
        uint group = (number - 1) / Superblock.InodesPerGroup;
        uint index = (number - 1) % Superblock.InodesPerGroup;
        if (group >= _groups.Length)
            throw new ImageFormatException($"inode {number} is in group {group}, past the last group", what);
        var gd = _groups[group];
        long offset = (long)gd.InodeTable * BlockSize + (long)index * Superblock.InodeSize;
        Span<byte> raw = stackalloc byte[Superblock.InodeSize];
        _inodeCache.Read(offset, raw);
        if (_verify)
        {
            var (stored, computed) = Inode.Checksums(_csumSeed, number, raw);
            if (stored != computed && !raw.ContainsAnyExcept((byte)0))
                throw new ImageFormatException("the inode is zeroed (unused)", what, offset);
            if (stored != computed)
                throw new Ext4ChecksumException($"checksum mismatch (stored 0x{stored:x8}, computed 0x{computed:x8})", what, offset);
        }
        return Inode.Read(number, raw, (Superblock.RoCompat & RoCompatFeatures.HugeFile) != 0, BlockSize, offset);
    }

    /// <summary>The checksum seed of one inode: crc32c(crc32c(fs seed, number), generation).</summary>
    internal uint InodeSeed(Inode inode) => Crc32C.Compute(Crc32C.Compute(_csumSeed, inode.Number), inode.Generation);

    internal void VerifyExtentBlock(Inode inode, ReadOnlySpan<byte> node, long offset)
    {
        if (!_verify) return;
        int max = BinaryPrimitives.ReadUInt16LittleEndian(node[ExtentTree.Header.Max..]);
        int tail = ExtentTree.HeaderSize + max * ExtentTree.EntrySize;
        if (tail + 4 > node.Length) return;
        uint stored = BinaryPrimitives.ReadUInt32LittleEndian(node[tail..]);
        uint computed = Crc32C.Compute(InodeSeed(inode), node[..tail]);
        if (stored != computed)
            throw new Ext4ChecksumException($"checksum mismatch (stored 0x{stored:x8}, computed 0x{computed:x8})", $"ext4 inode {inode.Number} extent block", offset);
    }

    /// <summary>The written blocks of an extent- or block-mapped inode below its size.</summary>
    internal DataMap GetDataMap(Inode inode)
    {
        long size = (long)Math.Min(inode.Size, long.MaxValue / 2);
        long limit = (size + BlockSize - 1) / BlockSize;
        // Logical block numbers are 32-bit (§3.5): nothing can be mapped above 2^32.
        limit = Math.Min(limit, 1L << 32);
        var builder = new DataMap.Builder($"ext4 inode {inode.Number}", limit);
        if (inode.HasFlag(Inode.Flag.InlineData))
            throw new ImageFormatException("inline-data inodes have no block map", $"ext4 inode {inode.Number}");
        if (inode.HasFlag(Inode.Flag.Extents)) ExtentTree.Map(this, inode, builder);
        else IndirectBlockMap.Map(this, inode, builder);
        return new DataMap(builder.ToArray(), size);
    }

    /// <summary>Maps logical blocks of <paramref name="inode"/> (the journal) to device blocks; holes map to -1.</summary>
    internal Func<long, long> MapInodeBlock(uint inode)
    {
        var map = GetDataMap(ReadInode(inode));
        return logical =>
        {
            int i = map.FindRun(logical);
            if (i >= map.Runs.Length || map.Runs[i].Logical > logical) return -1;
            return map.Runs[i].Physical + (logical - map.Runs[i].Logical);
        };
    }

    /// <summary>The length of <paramref name="inode"/> (the journal) in blocks: i_size / block size.</summary>
    internal long InodeBlockCount(uint inode) => (long)(ReadInode(inode).Size / (ulong)BlockSize);

    /// <summary>Releases the in-memory journal overlay, if any; the device passed to <see cref="Open"/> stays open.</summary>
    public void Dispose() => _ownedDevice?.Dispose();

    /// <summary>Reads inode-table bytes in large aligned chunks and keeps a few recently used ones.</summary>
    private sealed class InodeTableCache(Ext4FileSystem fs)
    {
        private const int Slots = 32;
        private readonly int _chunk = Math.Max(128 * 1024, fs.BlockSize);
        private readonly long[] _keys = Enumerable.Repeat(-1L, Slots).ToArray();
        private readonly byte[]?[] _data = new byte[Slots][];
        private readonly Lock _lock = new();

        public void Read(long offset, Span<byte> destination)
        {
            long key = offset / _chunk;
            int within = (int)(offset - key * _chunk);
            int slot = (int)(key % Slots);
            lock (_lock)
            {
                if (_keys[slot] != key)
                {
                    var buf = _data[slot] ??= new byte[_chunk];
                    _keys[slot] = -1;
                    long start = key * _chunk;
                    ReadZeroPadded(fs.Device, start, buf);
                    _keys[slot] = key;
                    fs.Device.Prefetch(start + _chunk, _chunk);
                }
                _data[slot].AsSpan(within, destination.Length).CopyTo(destination);
            }
        }
    }
}

/// <summary>A metadata_csum mismatch found with <see cref="Ext4Options.VerifyChecksums"/>; never downgraded to a warning.</summary>
internal sealed class Ext4ChecksumException(string message, string structure, long offset)
    : ImageFormatException(message, structure, offset);
