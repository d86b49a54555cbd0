using System.Buffers;
using System.Buffers.Binary;
using RootfsForge.Disks;

namespace RootfsForge.Ext4.Journal;

/// <summary>
/// The three recovery passes of JBD2 (kernel fs/jbd2/recovery.c, journal.rst "Journal replay"), computing which
/// journal block holds the latest committed copy of each filesystem block. Nothing is written and no block data is kept:
/// the result maps fs block → journal block, O(number of replayed blocks).
/// </summary>
/// <remarks>
/// Pass order differs from the kernel's SCAN, REVOKE, REPLAY: here SCAN finds the end of the log, REPLAY collects the
/// latest checksum-valid copy of each block, and REVOKE then drops a block whose latest copy comes from a transaction
/// at or before the block's latest revoke. That gives the same result (a copy is replayed only if no revoke record
/// of the same or a later transaction names it; the last such copy wins) while revoke records are only kept for blocks
/// that have a copy, so memory stays proportional to the replayed blocks.
/// </remarks>
internal sealed class JournalRecovery
{
    private const int MaxDetailedWarnings = 8;

    private readonly BlockSource _device;
    private readonly int _blockSize;
    private readonly Func<long, long> _mapJournalBlock;
    private readonly JournalSuperblock _sb;
    private readonly Action<string> _warn;
    private readonly long _deviceBlocks;
    private readonly long _logLength;

    private uint _endTransaction;
    private readonly Dictionary<long, ReplayEntry> _entries = new();
    private int _badDataChecksums;
    private int _skippedTargets;

    public JournalRecovery(BlockSource device, int blockSize, Func<long, long> mapJournalBlock, JournalSuperblock sb,
        Action<string> warn)
    {
        _device = device;
        _blockSize = blockSize;
        _mapJournalBlock = mapJournalBlock;
        _sb = sb;
        _warn = warn;
        _deviceBlocks = device.Length / blockSize;
        _logLength = sb.LogEnd - sb.First;
    }

    /// <summary>The transaction id recovery stopped before (transactions from s_sequence up to it were replayed).</summary>
    public uint EndTransaction => _endTransaction;

    /// <summary>Runs all passes; returns the replay map sorted by filesystem block.</summary>
    public (long[] FsBlocks, long[] Sources) Run()
    {
        byte[] block = ArrayPool<byte>.Shared.Rent(_blockSize);
        byte[] data = ArrayPool<byte>.Shared.Rent(_blockSize);
        try
        {
            Walk(Pass.Scan, block.AsSpan(0, _blockSize), data.AsSpan(0, _blockSize));
            if (_endTransaction == _sb.Sequence)
                return ([], []);
            Walk(Pass.Replay, block.AsSpan(0, _blockSize), data.AsSpan(0, _blockSize));
            var revoked = new Dictionary<long, uint>();
            Walk(Pass.Revoke, block.AsSpan(0, _blockSize), data.AsSpan(0, _blockSize), revoked);
            foreach (var (fsBlock, revokeTid) in revoked)
                if (_entries.TryGetValue(fsBlock, out var e) && !TidGreater(e.Transaction, revokeTid))
                    _entries.Remove(fsBlock);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(block);
            ArrayPool<byte>.Shared.Return(data);
        }

        if (_badDataChecksums > MaxDetailedWarnings)
            _warn($"jbd2 journal: {_badDataChecksums} journaled blocks in total had bad checksums and were not replayed");
        if (_skippedTargets > MaxDetailedWarnings)
            _warn($"jbd2 journal: {_skippedTargets} journaled blocks in total named blocks past the end of the filesystem");

        var fsBlocks = new long[_entries.Count];
        var sources = new long[_entries.Count];
        int i = 0;
        foreach (var (fsBlock, e) in _entries)
        {
            fsBlocks[i] = fsBlock;
            sources[i] = e.Escaped ? ~e.JournalFsBlock : e.JournalFsBlock;
            i++;
        }
        Array.Sort(fsBlocks, sources);
        return (fsBlocks, sources);
    }

    private enum Pass { Scan, Replay, Revoke }

    private readonly record struct ReplayEntry(long JournalFsBlock, uint Transaction, bool Escaped);

    /// <summary>One pass over the circular log from s_start (do_one_pass() in the kernel).</summary>
    private void Walk(Pass pass, Span<byte> block, Span<byte> data, Dictionary<long, uint>? revoked = null)
    {
        uint nextCommitId = _sb.Sequence;
        long next = _sb.Start;
        long budget = _logLength; // every pass visits each log block at most once
        ulong lastCommitTime = 0;

        while (true)
        {
            if (pass != Pass.Scan && !TidGreater(_endTransaction, nextCommitId))
                break;
            if (budget-- <= 0)
            {
                if (pass == Pass.Scan)
                    _warn($"jbd2 journal: the log runs all the way around the {_logLength}-block journal; " +
                          $"replay stops before transaction {nextCommitId}");
                break;
            }

            long here = next;
            if (!TryReadLogBlock(here, block, pass, nextCommitId, out long hereFs))
                break;
            next = Wrap(here + 1);

            if (BinaryPrimitives.ReadUInt32BigEndian(block[JournalLayout.Header.Magic..]) != JournalLayout.Magic)
                break;
            uint blockType = BinaryPrimitives.ReadUInt32BigEndian(block[JournalLayout.Header.BlockType..]);
            uint sequence = BinaryPrimitives.ReadUInt32BigEndian(block[JournalLayout.Header.Sequence..]);
            if (sequence != nextCommitId)
                break;

            if (blockType == JournalLayout.BlockType.Descriptor)
            {
                if (pass == Pass.Scan && _sb.TailBytes != 0 && !TailChecksumOk(block))
                {
                    _warn($"jbd2 journal: descriptor block at journal block {here} (fs block {hereFs}) of transaction " +
                          $"{nextCommitId} has a bad checksum; replay stops before that transaction");
                    break;
                }
                if (!WalkTags(pass, block, data, sequence, ref next, ref budget, here))
                    break;
            }
            else if (blockType == JournalLayout.BlockType.Commit)
            {
                if (pass == Pass.Scan)
                {
                    ulong commitTime = BinaryPrimitives.ReadUInt64BigEndian(block[JournalLayout.Commit.CommitSec..]);
                    if (_sb.HasCsumV2OrV3 && !CommitChecksumOk(block))
                    {
                        // recovery.c: a bad commit checksum with an older commit time is a stale block from an
                        // earlier use of the log (the end); otherwise the transaction is corrupt and replay stops.
                        if (commitTime >= lastCommitTime)
                            _warn($"jbd2 journal: transaction {nextCommitId} was corrupt (bad commit block checksum at " +
                                  $"journal block {here}); replay stops before it");
                        break;
                    }
                    lastCommitTime = commitTime;
                }
                nextCommitId++;
            }
            else if (blockType == JournalLayout.BlockType.Revoke)
            {
                if (!CheckRevoke(pass, block, here, nextCommitId, out int count))
                    break;
                if (pass == Pass.Revoke)
                    CollectRevokes(block, count, nextCommitId, revoked!);
            }
            else
            {
                break; // a superblock or unknown block type ends the log
            }
        }

        if (pass == Pass.Scan)
            _endTransaction = nextCommitId;
    }

    /// <summary>Steps over (SCAN) or records (REPLAY) the data blocks a descriptor block describes.</summary>
    private bool WalkTags(Pass pass, ReadOnlySpan<byte> descriptor, Span<byte> data, uint sequence, ref long next,
        ref long budget, long descriptorLogBlock)
    {
        int tagBytes = _sb.TagBytes;
        int end = _blockSize - _sb.TailBytes;
        int at = JournalLayout.Header.Size;
        while (at + tagBytes <= end)
        {
            var tag = descriptor.Slice(at, tagBytes);
            uint flags = _sb.HasCsumV3
                ? BinaryPrimitives.ReadUInt32BigEndian(tag[JournalLayout.Tag.FlagsV3..])
                : BinaryPrimitives.ReadUInt16BigEndian(tag[JournalLayout.Tag.FlagsV2..]);
            long target = BinaryPrimitives.ReadUInt32BigEndian(tag[JournalLayout.Tag.BlockNr..]);
            if (_sb.Has64Bit)
                target |= (long)BinaryPrimitives.ReadUInt32BigEndian(tag[JournalLayout.Tag.BlockNrHigh..]) << 32;

            long dataLogBlock = next;
            next = Wrap(next + 1);
            if (budget-- <= 0)
            {
                if (pass == Pass.Scan)
                    _warn($"jbd2 journal: descriptor at journal block {descriptorLogBlock} describes more blocks than " +
                          $"the log holds; replay stops before transaction {sequence}");
                return false;
            }

            if (pass == Pass.Scan)
            {
                if (!TryLocate(dataLogBlock, out _, out string? why))
                {
                    _warn($"jbd2 journal: data block {dataLogBlock} of transaction {sequence} {why}; " +
                          "replay stops before that transaction");
                    return false;
                }
            }
            else if (pass == Pass.Replay)
            {
                RecordCopy(tag, flags, target, dataLogBlock, sequence, data);
            }

            at += tagBytes;
            if ((flags & JournalLayout.Tag.FlagSameUuid) == 0)
                at += JournalLayout.Tag.UuidLength;
            if ((flags & JournalLayout.Tag.FlagLastTag) != 0)
                break;
        }
        return true;
    }

    private void RecordCopy(ReadOnlySpan<byte> tag, uint flags, long target, long dataLogBlock, uint sequence, Span<byte> data)
    {
        if (!TryLocate(dataLogBlock, out long dataFs, out _))
            return; // the scan pass stopped before any transaction with an unmapped block
        if (target < 0 || target >= _deviceBlocks) // a 64-bit tag can name any block, even past long.MaxValue
        {
            if (++_skippedTargets <= MaxDetailedWarnings)
                _warn($"jbd2 journal: transaction {sequence} journals fs block {(ulong)target}, past the end of the " +
                      $"{_deviceBlocks}-block filesystem; ignored");
            return;
        }
        if (_sb.HasCsumV2OrV3)
        {
            // jbd2_block_tag_csum_verify(): crc32c(seed, be32 sequence) continued over the block as stored (escaped).
            _device.ReadExactlyAt(dataFs * _blockSize, data);
            Span<byte> seq = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(seq, sequence);
            uint crc = Crc32C.Compute(Crc32C.Compute(_sb.ChecksumSeed, seq), data);
            bool ok = _sb.HasCsumV3
                ? BinaryPrimitives.ReadUInt32BigEndian(tag[JournalLayout.Tag.ChecksumV3..]) == crc
                : BinaryPrimitives.ReadUInt16BigEndian(tag[JournalLayout.Tag.ChecksumV2..]) == (ushort)crc;
            if (!ok)
            {
                if (++_badDataChecksums <= MaxDetailedWarnings)
                    _warn($"jbd2 journal: invalid checksum on the copy of fs block {target} at journal block " +
                          $"{dataLogBlock} (transaction {sequence}); that copy is not replayed");
                return;
            }
        }
        _entries[target] = new ReplayEntry(dataFs, sequence, (flags & JournalLayout.Tag.FlagEscape) != 0);
    }

    private bool CheckRevoke(Pass pass, ReadOnlySpan<byte> block, long here, uint transaction, out int count)
    {
        count = (int)Math.Min(BinaryPrimitives.ReadUInt32BigEndian(block[JournalLayout.Revoke.Count..]), int.MaxValue);
        if (pass != Pass.Scan)
            return true;
        if (_sb.TailBytes != 0 && !TailChecksumOk(block))
        {
            _warn($"jbd2 journal: revoke block at journal block {here} of transaction {transaction} has a bad checksum; " +
                  "replay stops before that transaction");
            return false;
        }
        if (count < JournalLayout.Revoke.Records || count > _blockSize - _sb.TailBytes)
        {
            _warn($"jbd2 journal: revoke block at journal block {here} of transaction {transaction} has r_count {count} " +
                  $"outside [{JournalLayout.Revoke.Records}, {_blockSize - _sb.TailBytes}]; replay stops before that transaction");
            return false;
        }
        return true;
    }

    private void CollectRevokes(ReadOnlySpan<byte> block, int count, uint transaction, Dictionary<long, uint> revoked)
    {
        int recordSize = _sb.Has64Bit ? 8 : 4;
        for (int at = JournalLayout.Revoke.Records; at + recordSize <= count; at += recordSize)
        {
            long fsBlock = recordSize == 8
                ? (long)BinaryPrimitives.ReadUInt64BigEndian(block[at..])
                : BinaryPrimitives.ReadUInt32BigEndian(block[at..]);
            if (!_entries.ContainsKey(fsBlock))
                continue; // a revoke only matters for a block that has a journaled copy
            if (!revoked.TryGetValue(fsBlock, out uint tid) || TidGreater(transaction, tid))
                revoked[fsBlock] = transaction;
        }
    }

    private bool TailChecksumOk(ReadOnlySpan<byte> block)
    {
        // jbd2_descriptor_block_csum_verify(): crc32c(seed) over the block with the tail's checksum zeroed.
        int tail = _blockSize - JournalLayout.BlockTailSize;
        uint stored = BinaryPrimitives.ReadUInt32BigEndian(block[tail..]);
        uint crc = Crc32C.Compute(_sb.ChecksumSeed, block[..tail]);
        crc = Crc32C.ComputeZeros(crc, JournalLayout.BlockTailSize);
        return crc == stored;
    }

    private bool CommitChecksumOk(ReadOnlySpan<byte> block)
    {
        // jbd2_commit_block_csum_verify(): crc32c(seed) over the block with h_chksum[0] zeroed.
        int at = JournalLayout.Commit.Checksum;
        uint stored = BinaryPrimitives.ReadUInt32BigEndian(block[at..]);
        uint crc = Crc32C.Compute(_sb.ChecksumSeed, block[..at]);
        crc = Crc32C.ComputeZeros(crc, 4);
        crc = Crc32C.Compute(crc, block[(at + 4)..]);
        return crc == stored;
    }

    private bool TryReadLogBlock(long logBlock, Span<byte> block, Pass pass, uint transaction, out long fsBlock)
    {
        if (!TryLocate(logBlock, out fsBlock, out string? why))
        {
            if (pass == Pass.Scan)
                _warn($"jbd2 journal: journal block {logBlock} {why}; replay stops before transaction {transaction}");
            return false;
        }
        _device.ReadExactlyAt(fsBlock * _blockSize, block);
        return true;
    }

    /// <summary>Maps a journal block to an fs block inside the device; false (with the reason) for a hole or bad block.</summary>
    private bool TryLocate(long logBlock, out long fsBlock, out string? why)
    {
        try
        {
            fsBlock = _mapJournalBlock(logBlock);
        }
        catch (Exception e) when (e is ImageFormatException or ArgumentException or KeyNotFoundException)
        {
            fsBlock = -1;
            why = $"cannot be mapped ({e.Message})";
            return false;
        }
        if (fsBlock < 0)
        {
            why = "is a hole in the journal inode";
            return false;
        }
        if (fsBlock >= _deviceBlocks)
        {
            why = $"maps to fs block {fsBlock}, past the end of the {_deviceBlocks}-block filesystem";
            return false;
        }
        why = null;
        return true;
    }

    private long Wrap(long logBlock) => logBlock >= _sb.LogEnd ? logBlock - _logLength : logBlock;

    /// <summary>tid_gt(): transaction ids compare modulo 2^32.</summary>
    private static bool TidGreater(uint x, uint y) => (int)(x - y) > 0;
}
