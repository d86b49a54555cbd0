using RootfsForge.Disks;

namespace RootfsForge.Ext4;

/// <summary>
/// Opens an <see cref="Ext4Volume"/>: superblock (or its backup), feature policy, group descriptors, and the in-memory
/// journal replay when the filesystem needs recovery (docs/disk-formats.md §3.1–§3.3, §3.13).
/// </summary>
internal static class VolumeOpener
{
    /// <summary>The opened volume; <c>Replayed</c> when read through a replayed journal, <c>Overlay</c> the replay's device to dispose.</summary>
    public static (Ext4Volume Volume, bool Replayed, BlockSource? Overlay) Open(BlockSource device, Ext4Options options)
    {
        var warnings = new List<string>();
        var volume = Read(device, options, warnings);
        if ((volume.Superblock.Incompat & IncompatFeatures.Recover) == 0) return (volume, false, null);

        const string notReplayed = "needs_recovery: the journal was not replayed; the last writes may be missing";
        if (!options.ReplayJournal)
        {
            volume.Warn(notReplayed + " (journal replay disabled)");
            return (volume, false, null);
        }
        uint journalInode = volume.Superblock.JournalInum;
        if ((volume.Superblock.Compat & CompatFeatures.HasJournal) == 0 || journalInode == 0)
        {
            volume.Warn(notReplayed + " (the journal is external or missing)");
            return (volume, false, null);
        }
        BlockSource overlay;
        try
        {
            var inode = new InodeReader(volume).Read(journalInode);
            var map = DataMap.Read(volume, inode);
            overlay = Journal.Jbd2Journal.Replay(device, volume.BlockSize, map.PhysicalBlock,
                (long)(inode.Size / (ulong)volume.BlockSize), volume.Warn);
        }
        catch (ImageFormatException e)
        {
            volume.Warn($"{notReplayed} (the journal is unreadable: {e.Message})");
            return (volume, false, null);
        }
        // Everything (superblock, descriptors, inodes) is read again through the replayed view. The replayer returns the
        // device itself when the journal is clean; that one stays the caller's.
        return (Read(overlay, options, warnings), true, ReferenceEquals(overlay, device) ? null : overlay);
    }

    private static Ext4Volume Read(BlockSource device, Ext4Options options, List<string> warnings)
    {
        void Warn(string m)
        {
            lock (warnings) warnings.Add(m);
        }

        var sb = SuperblockLocator.Read(device, options.VerifyChecksums, Warn);
        FeaturePolicy.Check(sb);
        if ((ulong)device.Length / (ulong)sb.BlockSize < sb.BlocksCount)
            Warn($"the filesystem has {sb.BlocksCount} blocks but the device holds only {device.Length / sb.BlockSize}; missing blocks read as zeros");
        var groups = GroupDescriptorTable.Read(device, sb, options.VerifyChecksums, Warn);
        return new Ext4Volume(device, sb, groups, options.VerifyChecksums, warnings);
    }
}
