namespace RootfsForge.Ext4;

/// <summary>Which incompatible features the reader refuses (docs/disk-formats.md §3.2).</summary>
internal static class FeaturePolicy
{
    private const IncompatFeatures Supported = IncompatFeatures.FileType | IncompatFeatures.Recover | IncompatFeatures.MetaBg
        | IncompatFeatures.Extents | IncompatFeatures.Bit64 | IncompatFeatures.Mmp | IncompatFeatures.FlexBg
        | IncompatFeatures.EaInode | IncompatFeatures.CsumSeed | IncompatFeatures.LargeDir | IncompatFeatures.InlineData
        | IncompatFeatures.Encrypt | IncompatFeatures.Casefold;

    /// <exception cref="UnsupportedImageException">The filesystem uses a refused or unknown incompatible feature.</exception>
    public static void Check(Superblock sb)
    {
        const string what = "ext4 superblock";
        var incompat = sb.Incompat;
        if ((incompat & IncompatFeatures.Compression) != 0)
            throw new UnsupportedImageException("the filesystem uses the 'compression' feature, which is not supported", what, Superblock.PrimaryOffset);
        if ((incompat & IncompatFeatures.JournalDev) != 0)
            throw new UnsupportedImageException("this is an external journal device ('journal_dev'), not a filesystem", what, Superblock.PrimaryOffset);
        if ((incompat & IncompatFeatures.DirData) != 0)
            throw new UnsupportedImageException("the filesystem uses the 'dirdata' feature, which is not supported", what, Superblock.PrimaryOffset);
        uint unknown = (uint)(incompat & ~Supported);
        if (unknown != 0)
        {
            int bit = System.Numerics.BitOperations.TrailingZeroCount(unknown);
            throw new UnsupportedImageException($"the filesystem uses an unknown incompatible feature (FEATURE_I{bit}, 0x{1u << bit:x})", what, Superblock.PrimaryOffset);
        }
    }
}
