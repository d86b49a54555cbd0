namespace RootfsForge.Partitions;

/// <summary>How a disk is partitioned.</summary>
public enum PartitionScheme
{
    /// <summary>No partition table: the disk holds one filesystem (a pseudo-partition numbered 0).</summary>
    None,

    /// <summary>A GUID partition table (UEFI chapter 5).</summary>
    Gpt,

    /// <summary>A DOS master boot record, possibly with logical partitions in an extended partition.</summary>
    Mbr,
}
