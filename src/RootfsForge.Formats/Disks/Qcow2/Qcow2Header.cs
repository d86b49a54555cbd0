namespace RootfsForge.Disks.Qcow2;

/// <summary>
/// The parsed qcow2 header and the header extensions a reader needs (docs/disk-formats.md §1.1–§1.3).
/// </summary>
internal sealed partial class Qcow2Header
{
    public uint Version { get; private init; }
    public int ClusterBits { get; private init; }
    public long Size { get; private init; }
    public uint L1Size { get; private init; }
    public long L1TableOffset { get; private init; }
    public uint SnapshotCount { get; private init; }
    public ulong IncompatibleFeatures { get; private init; }
    public ulong CompatibleFeatures { get; private init; }
    public ulong AutoclearFeatures { get; private init; }
    public uint HeaderLength { get; private init; }
    public byte CompressionType { get; private init; }
    public ulong RefcountTableOffset { get; private init; }
    public uint RefcountTableClusters { get; private init; }

    /// <summary>Where the backing file name is stored in the file (0 when there is none).</summary>
    public long BackingFileNameOffset { get; private set; }

    /// <summary>The backing file name as stored (not NUL-terminated), or null.</summary>
    public string? BackingFileName { get; private set; }

    /// <summary>The backing format from extension 0xE2792ACA, or null (probe).</summary>
    public string? BackingFormat { get; private set; }

    /// <summary>The external data file name from extension 0x44415441, or null.</summary>
    public string? ExternalDataFileName { get; private set; }

    public int ClusterSize => 1 << ClusterBits;
    public long RefcountTableBytes => (long)RefcountTableClusters * ClusterSize;
    public bool ExtendedL2 => (IncompatibleFeatures & Qcow2FieldLocations.IncompatExtendedL2) != 0;
    public bool HasExternalDataFile => (IncompatibleFeatures & Qcow2FieldLocations.IncompatExternalDataFile) != 0;
    public bool Dirty => (IncompatibleFeatures & Qcow2FieldLocations.IncompatDirty) != 0;
    public bool Corrupt => (IncompatibleFeatures & Qcow2FieldLocations.IncompatCorrupt) != 0;

    /// <summary>Bytes per L2 entry: 8, or 16 with extended L2 (docs/disk-formats.md §1.6).</summary>
    public int L2EntrySize => ExtendedL2 ? Qcow2FieldLocations.ExtendedL2EntrySize : Qcow2FieldLocations.L2EntrySize;

    /// <summary>Entries per L2 table (one cluster).</summary>
    public int L2Entries => ClusterSize / L2EntrySize;
}
