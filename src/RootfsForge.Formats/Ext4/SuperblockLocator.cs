using RootfsForge.Disks;

namespace RootfsForge.Ext4;

/// <summary>
/// Finds a usable superblock: the primary at byte 1024, or, when that one is unusable, the backup at the start of group 1
/// (docs/disk-formats.md §3.1).
/// </summary>
internal static class SuperblockLocator
{
    /// <summary>The primary superblock, or the group-1 backup with a warning; the primary's error when neither is usable.</summary>
    /// <exception cref="UnsupportedImageException">The primary is an external journal device.</exception>
    /// <exception cref="ImageFormatException">Neither superblock is usable (the primary's problem).</exception>
    public static Superblock Read(BlockSource device, bool verifyChecksums, Action<string> warn)
    {
        Span<byte> buf = stackalloc byte[Superblock.Size];
        ImageFormatException primaryError;
        try
        {
            Ext4Volume.ReadZeroPadded(device, Superblock.PrimaryOffset, buf);
            var sb = Superblock.Read(buf, Superblock.PrimaryOffset);
            if (!verifyChecksums || !sb.HasMetadataCsum || sb.StoredChecksum == sb.ComputedChecksum) return sb;
            primaryError = new ImageFormatException(
                $"checksum mismatch (stored 0x{sb.StoredChecksum:x8}, computed 0x{sb.ComputedChecksum:x8})",
                "ext4 superblock", Superblock.PrimaryOffset, kind: ImageErrorKind.ChecksumMismatch);
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
                Ext4Volume.ReadZeroPadded(device, offset, buf);
                var sb = Superblock.Read(buf, offset);
                // Old mke2fs versions left s_block_group_nr 0 in backups.
                if (sb.BlockSize != blockSize || sb.BlockGroupNr > 1) continue;
                if (verifyChecksums && sb.HasMetadataCsum && sb.StoredChecksum != sb.ComputedChecksum) continue;
                warn($"the primary superblock is unusable ({primaryError.Message}); using the backup in group 1 at byte {offset}");
                return sb;
            }
            catch (ImageFormatException)
            {
            }
        }
        throw primaryError;
    }
}
