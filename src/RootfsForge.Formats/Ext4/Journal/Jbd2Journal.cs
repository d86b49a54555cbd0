using System.Buffers;
using System.Buffers.Binary;
using RootfsForge.Disks;

namespace RootfsForge.Ext4.Journal;

/// <summary>
/// In-memory replay of an ext4 filesystem's JBD2 journal (docs/disk-formats.md §3.2 RECOVER, §3.13). The image is never
/// written: the result is a view of the device in which every block written by a committed transaction reads as its
/// latest committed copy.
/// </summary>
/// <remarks>
/// <para>Follows the kernel's recovery (fs/jbd2/recovery.c): the log is read from s_start with s_sequence, around the
/// circular area [s_first, s_maxlen − fast-commit blocks), until a block whose magic or sequence does not match; only
/// transactions with a commit block count, and a block revoked by the same or a later transaction is not replayed.</para>
/// <para>With CSUM_V2/V3, the journal superblock checksum must match (else <see cref="ImageFormatException"/>); a bad
/// commit, descriptor or revoke block checksum ends the replay before that transaction (for descriptor and revoke blocks
/// the kernel and e2fsck refuse the whole recovery instead; the committed transactions before it are still a consistent
/// state, so they are kept); a data block whose tag checksum fails is skipped, leaving its previous copy.
/// v1 commit checksums (compat CHECKSUM, crc32) are not verified. Fast-commit records are not applied (warned).</para>
/// </remarks>
internal static class Jbd2Journal
{
    /// <summary>
    /// Replays the journal over <paramref name="device"/>.
    /// </summary>
    /// <param name="device">The filesystem: fs block n at byte n × <paramref name="blockSize"/>.</param>
    /// <param name="blockSize">The filesystem block size.</param>
    /// <param name="mapJournalBlock">
    /// Maps the journal inode's logical block to an fs block; returns a negative number (or throws
    /// <see cref="ImageFormatException"/> or <see cref="ArgumentException"/>) for a hole.
    /// </param>
    /// <param name="journalBlockCount">The journal inode's size in blocks.</param>
    /// <param name="warn">Receives one line per recovery problem that did not stop the replay as a whole.</param>
    /// <returns>
    /// An overlay with the same <see cref="BlockSource.Length"/> as <paramref name="device"/>, or <paramref name="device"/>
    /// itself when there is nothing to replay. The overlay does not own the device; disposing it leaves the device open.
    /// </returns>
    /// <exception cref="ImageFormatException">
    /// The journal superblock is unusable (bad magic, block size, geometry or checksum; unknown incompat features).
    /// Problems inside the log stop the replay at the last good transaction with a warning instead, as e2fsck does.
    /// </exception>
    public static BlockSource Replay(BlockSource device, int blockSize, Func<long, long> mapJournalBlock,
        long journalBlockCount, Action<string> warn)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(mapJournalBlock);
        ArgumentNullException.ThrowIfNull(warn);
        if (blockSize < 1024 || blockSize > 65536 || (blockSize & (blockSize - 1)) != 0)
            throw new ArgumentOutOfRangeException(nameof(blockSize), blockSize, "block size must be a power of two in [1024, 65536]");

        JournalSuperblock sb;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(blockSize);
        try
        {
            long sbBlock = MapOrThrow(mapJournalBlock, 0, device.Length / blockSize, "jbd2 journal superblock");
            var block = buffer.AsSpan(0, blockSize);
            device.ReadExactlyAt(sbBlock * blockSize, block);
            sb = JournalSuperblock.Read(block, blockSize, journalBlockCount, sbBlock * blockSize);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        if (sb.Start == 0)
            return device; // s_start 0: the journal is clean

        if (sb.Errno != 0)
            warn($"jbd2 journal: the journal records error {(int)sb.Errno} (the filesystem was aborted); " +
                 "replaying its committed transactions anyway, as e2fsck does");

        var recovery = new JournalRecovery(device, blockSize, mapJournalBlock, sb, warn);
        var (fsBlocks, sources) = recovery.Run();
        if (sb.HasFastCommit)
            WarnAboutFastCommits(device, blockSize, mapJournalBlock, sb, recovery.EndTransaction, warn);
        return fsBlocks.Length == 0 ? device : new JournalOverlayBlockSource(device, blockSize, fsBlocks, sources);
    }

    /// <summary>
    /// Fast commits (journal.rst "Fast commits") are inode-level records after the log; they are not replayed here.
    /// If the fast-commit area (from journal block s_maxlen − s_num_fc_blks + 1 in the kernel; the block before is
    /// checked too) starts with a head tag for the transaction after the last full commit, the kernel would apply
    /// them, so say loudly that the result lacks them.
    /// </summary>
    private static void WarnAboutFastCommits(BlockSource device, int blockSize, Func<long, long> map, JournalSuperblock sb,
        uint endTransaction, Action<string> warn)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(blockSize);
        try
        {
            var block = buffer.AsSpan(0, blockSize);
            for (long jb = sb.LogEnd; jb < sb.MaxLen && jb <= sb.LogEnd + 1; jb++)
            {
                long fs;
                try
                {
                    fs = map(jb);
                }
                catch (Exception e) when (e is ImageFormatException or ArgumentException or KeyNotFoundException)
                {
                    continue;
                }
                if (fs < 0 || fs >= device.Length / blockSize) continue;
                device.ReadExactlyAt(fs * blockSize, block);
                ushort tag = BinaryPrimitives.ReadUInt16LittleEndian(block);
                if (tag != JournalLayout.FastCommit.TagHead) continue;
                // ext4_fc_head after the 4-byte tag/length: fc_features, fc_tid (little-endian). Fast commits belong
                // to the transaction after the last full commit; a head for any other tid is left over and ignored.
                uint tid = BinaryPrimitives.ReadUInt32LittleEndian(block[8..]);
                if (tid != endTransaction) return;
                warn($"jbd2 journal: the fast-commit area (journal block {jb}) holds fast-commit records for transaction " +
                     $"{tid} (log replayed up to {endTransaction}); fast-commit replay is not implemented, so those changes " +
                     "were NOT applied and recently changed files may be stale");
                return;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static long MapOrThrow(Func<long, long> map, long logical, long deviceBlocks, string structure)
    {
        long fs = map(logical);
        if (fs < 0 || fs >= deviceBlocks)
            throw new ImageFormatException(
                fs < 0 ? $"journal block {logical} is a hole" : $"journal block {logical} maps to fs block {fs}, past the end of the {deviceBlocks}-block filesystem",
                structure);
        return fs;
    }
}
