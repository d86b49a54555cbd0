namespace RootfsForge.Ext4;

/// <summary>Facts from an ext2/3/4 superblock, for <c>rootfsforge inspect</c>.</summary>
public sealed class Ext4Info
{
    /// <summary><c>ext2</c>, <c>ext3</c> (journal, no ext4 features) or <c>ext4</c>, judged by the feature flags.</summary>
    public required string Kind { get; init; }

    /// <summary>The block size in bytes (1024 … 65536).</summary>
    public required int BlockSize { get; init; }

    /// <summary>The allocation cluster size in bytes (equals the block size unless bigalloc).</summary>
    public required int ClusterSize { get; init; }

    /// <summary>The on-disk inode record size in bytes.</summary>
    public required int InodeSize { get; init; }

    /// <summary>s_inodes_count.</summary>
    public required uint InodesCount { get; init; }

    /// <summary>s_free_inodes_count.</summary>
    public required uint FreeInodesCount { get; init; }

    /// <summary>s_blocks_count (64-bit with the 64bit feature).</summary>
    public required ulong BlocksCount { get; init; }

    /// <summary>s_free_blocks_count.</summary>
    public required ulong FreeBlocksCount { get; init; }

    /// <summary>The volume label (s_volume_name), empty when none.</summary>
    public required string Label { get; init; }

    /// <summary>The filesystem UUID.</summary>
    public required Guid Uuid { get; init; }

    /// <summary>s_rev_level: 0 (original, 128-byte inodes) or 1 (dynamic).</summary>
    public required uint Revision { get; init; }

    /// <summary>The directory where the filesystem was last mounted, empty when never recorded.</summary>
    public required string LastMountedOn { get; init; }

    /// <summary>s_state: 1 clean, 2 errors, 4 orphans being recovered (bits).</summary>
    public required int State { get; init; }

    /// <summary>Compatible feature names as e2fsprogs spells them (<c>has_journal</c>, <c>dir_index</c>, ...).</summary>
    public required IReadOnlyList<string> CompatFeatures { get; init; }

    /// <summary>Incompatible feature names (<c>extent</c>, <c>64bit</c>, <c>needs_recovery</c>, ...).</summary>
    public required IReadOnlyList<string> IncompatFeatures { get; init; }

    /// <summary>Read-only-compatible feature names (<c>metadata_csum</c>, <c>huge_file</c>, ...).</summary>
    public required IReadOnlyList<string> RoCompatFeatures { get; init; }

    /// <summary>Bytes in use (blocks minus free blocks): what an extraction reads, for progress estimates.</summary>
    public long UsedBytes => (long)Math.Min(long.MaxValue, (BlocksCount - Math.Min(FreeBlocksCount, BlocksCount)) * (ulong)BlockSize);

    /// <summary>True when the journal holds writes not yet applied (incompat RECOVER).</summary>
    public required bool NeedsRecovery { get; init; }

    /// <summary>True when the journal was replayed in memory when opening.</summary>
    public required bool JournalReplayed { get; init; }

    internal static Ext4Info From(Superblock sb, bool replayed)
    {
        const Ext4.RoCompatFeatures ext4Ro = Ext4.RoCompatFeatures.HugeFile | Ext4.RoCompatFeatures.GdtCsum | Ext4.RoCompatFeatures.DirNlink
            | Ext4.RoCompatFeatures.ExtraIsize | Ext4.RoCompatFeatures.Bigalloc | Ext4.RoCompatFeatures.MetadataCsum;
        const Ext4.IncompatFeatures ext4In = Ext4.IncompatFeatures.Extents | Ext4.IncompatFeatures.Bit64 | Ext4.IncompatFeatures.FlexBg
            | Ext4.IncompatFeatures.InlineData | Ext4.IncompatFeatures.EaInode | Ext4.IncompatFeatures.LargeDir | Ext4.IncompatFeatures.CsumSeed
            | Ext4.IncompatFeatures.Encrypt | Ext4.IncompatFeatures.Casefold | Ext4.IncompatFeatures.Mmp;
        string kind = (sb.RoCompat & ext4Ro) != 0 || (sb.Incompat & ext4In) != 0 ? "ext4"
            : (sb.Compat & Ext4.CompatFeatures.HasJournal) != 0 ? "ext3" : "ext2";
        return new Ext4Info
        {
            Kind = kind,
            BlockSize = sb.BlockSize,
            ClusterSize = sb.ClusterSize,
            InodeSize = sb.InodeSize,
            InodesCount = sb.InodesCount,
            FreeInodesCount = sb.FreeInodesCount,
            BlocksCount = sb.BlocksCount,
            FreeBlocksCount = sb.FreeBlocksCount,
            Label = CString(sb.VolumeName),
            Uuid = new Guid(sb.Uuid, bigEndian: true),
            Revision = sb.RevLevel,
            LastMountedOn = CString(sb.LastMounted),
            State = sb.State,
            CompatFeatures = Names((uint)sb.Compat, CompatNames, 'C'),
            IncompatFeatures = Names((uint)sb.Incompat, IncompatNames, 'I'),
            RoCompatFeatures = Names((uint)sb.RoCompat, RoCompatNames, 'R'),
            NeedsRecovery = (sb.Incompat & Ext4.IncompatFeatures.Recover) != 0,
            JournalReplayed = replayed,
        };
    }

    /// <summary>Feature names by bit, as e2fsprogs' <c>lib/e2p/feature.c</c> prints them.</summary>
    private static readonly string?[] CompatNames =
        ["dir_prealloc", "imagic_inodes", "has_journal", "ext_attr", "resize_inode", "dir_index", "lazy_bg", null,
         "exclude_bitmap", "sparse_super2", "fast_commit", "stable_inodes", "orphan_file"];

    private static readonly string?[] IncompatNames =
        ["compression", "filetype", "needs_recovery", "journal_dev", "meta_bg", null, "extent", "64bit", "mmp", "flex_bg",
         "ea_inode", null, "dirdata", "metadata_csum_seed", "large_dir", "inline_data", "encrypt", "casefold"];

    private static readonly string?[] RoCompatNames =
        ["sparse_super", "large_file", null, "huge_file", "uninit_bg", "dir_nlink", "extra_isize", "snapshot_bitmap",
         "quota", "bigalloc", "metadata_csum", "replica", "read-only", "project", "shared_blocks", "verity",
         "orphan_present"];

    private static List<string> Names(uint bits, string?[] names, char kind)
    {
        var list = new List<string>();
        for (int i = 0; i < 32; i++)
        {
            if ((bits & (1u << i)) == 0) continue;
            list.Add(i < names.Length && names[i] is { } n ? n : $"FEATURE_{kind}{i}");
        }
        return list;
    }

    private static string CString(byte[] bytes)
    {
        int n = Array.IndexOf(bytes, (byte)0);
        return Tree.FileNameEncoding.GetString(n < 0 ? bytes : bytes.AsSpan(0, n));
    }
}
