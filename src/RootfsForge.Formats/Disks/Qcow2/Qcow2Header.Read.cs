using System.Buffers.Binary;
using System.Text;
using Microsoft.Win32.SafeHandles;
using F = RootfsForge.Disks.Qcow2.Qcow2FieldLocations;

namespace RootfsForge.Disks.Qcow2;

/// <summary>Makes the exception for a problem found at <paramref name="offset"/> of <paramref name="structure"/>.</summary>
internal delegate ImageFormatException ImageErrorFactory(string message, string structure, long? offset,
    ImageErrorKind kind = ImageErrorKind.Corrupt);

internal sealed partial class Qcow2Header
{
    private const string Structure = "qcow2 header";

    /// <summary>
    /// Reads and validates the header, its extensions and the backing file name (docs/disk-formats.md §1.1–§1.3, §1.8).
    /// </summary>
    public static Qcow2Header Read(SafeFileHandle file, long fileLength, ImageErrorFactory error)
    {
        Span<byte> fixedPart = stackalloc byte[112];
        fixedPart.Clear();
        int got = RandomAccess.Read(file, fixedPart, 0);
        if (got < F.V2HeaderLength)
            throw error($"file is {fileLength} bytes, too short for a qcow2 header", Structure, 0, ImageErrorKind.Truncated);

        if (BinaryPrimitives.ReadUInt32BigEndian(fixedPart[F.Magic..]) != F.MagicValue)
            throw error("bad magic (not a qcow2 image)", Structure, F.Magic);
        uint version = BinaryPrimitives.ReadUInt32BigEndian(fixedPart[F.Version..]);
        if (version is not (2 or 3))
            throw error(version == 1
                ? "version 1 is the older 'qcow' format, not qcow2"
                : $"unsupported qcow2 version {version} (only 2 and 3)", Structure, F.Version, ImageErrorKind.Unsupported);

        uint clusterBits = BinaryPrimitives.ReadUInt32BigEndian(fixedPart[F.ClusterBits..]);
        if (clusterBits is < F.MinClusterBits or > F.MaxClusterBits)
            throw error($"cluster_bits {clusterBits} is outside {F.MinClusterBits}..{F.MaxClusterBits}", Structure, F.ClusterBits);

        uint crypt = BinaryPrimitives.ReadUInt32BigEndian(fixedPart[F.CryptMethod..]);
        if (crypt != 0)
            throw error(
                $"the image is encrypted ({(crypt == 1 ? "legacy AES" : crypt == 2 ? "LUKS" : $"method {crypt}")}); encrypted qcow2 images are not supported",
                Structure, F.CryptMethod, ImageErrorKind.Unsupported);

        ulong size = BinaryPrimitives.ReadUInt64BigEndian(fixedPart[F.Size..]);
        if (size > long.MaxValue / 2)
            throw error($"virtual size {size} is implausible", Structure, F.Size);

        ulong incompatible = 0, compatible = 0, autoclear = 0;
        uint headerLength = F.V2HeaderLength;
        byte compressionType = F.CompressionDeflate;
        if (version == 3)
        {
            if (got < F.V3MinHeaderLength)
                throw error("file too short for a version 3 header", Structure, 0, ImageErrorKind.Truncated);
            incompatible = BinaryPrimitives.ReadUInt64BigEndian(fixedPart[F.IncompatibleFeatures..]);
            compatible = BinaryPrimitives.ReadUInt64BigEndian(fixedPart[F.CompatibleFeatures..]);
            autoclear = BinaryPrimitives.ReadUInt64BigEndian(fixedPart[F.AutoclearFeatures..]);
            headerLength = BinaryPrimitives.ReadUInt32BigEndian(fixedPart[F.HeaderLength..]);
            if (headerLength < F.V3MinHeaderLength || headerLength % 8 != 0 || headerLength > (1u << (int)clusterBits))
                throw error($"header_length {headerLength} is invalid (≥ 104, a multiple of 8, inside the first cluster)",
                    Structure, F.HeaderLength);
            if (headerLength > F.CompressionType)
                compressionType = fixedPart[F.CompressionType];
        }

        ulong unknown = incompatible & ~F.IncompatKnown;
        if (unknown != 0)
            throw error($"unknown incompatible feature bits 0x{unknown:x} are set; the image cannot be read safely",
                Structure, F.IncompatibleFeatures, ImageErrorKind.Unsupported);
        if (compressionType is not (F.CompressionDeflate or F.CompressionZstd))
            throw error($"unknown compression_type {compressionType}", Structure, F.CompressionType);
        bool typeBit = (incompatible & F.IncompatCompressionType) != 0;
        if (typeBit != (compressionType != F.CompressionDeflate))
            throw error(typeBit
                ? "incompatible bit 3 (compression type) is set but compression_type is 0 (deflate)"
                : $"compression_type {compressionType} is set but incompatible bit 3 is clear", Structure, F.CompressionType);
        if ((incompatible & F.IncompatExtendedL2) != 0 && clusterBits < F.MinClusterBitsExtendedL2)
            throw error($"extended L2 entries need cluster_bits ≥ {F.MinClusterBitsExtendedL2}, not {clusterBits}", Structure,
                F.ClusterBits);

        var header = new Qcow2Header
        {
            Version = version,
            ClusterBits = (int)clusterBits,
            Size = (long)size,
            L1Size = BinaryPrimitives.ReadUInt32BigEndian(fixedPart[F.L1Size..]),
            L1TableOffset = (long)Math.Min(BinaryPrimitives.ReadUInt64BigEndian(fixedPart[F.L1TableOffset..]), long.MaxValue),
            SnapshotCount = BinaryPrimitives.ReadUInt32BigEndian(fixedPart[F.NbSnapshots..]),
            IncompatibleFeatures = incompatible,
            CompatibleFeatures = compatible,
            AutoclearFeatures = autoclear,
            HeaderLength = headerLength,
            CompressionType = compressionType,
            RefcountTableOffset = BinaryPrimitives.ReadUInt64BigEndian(fixedPart[F.RefcountTableOffset..]),
            RefcountTableClusters = BinaryPrimitives.ReadUInt32BigEndian(fixedPart[F.RefcountTableClusters..]),
        };
        header.ValidateL1(fileLength, error);
        header.ValidateRefcountTable(fileLength, error);
        header.ReadFirstCluster(file, fileLength, fixedPart, error);
        if (header.HasExternalDataFile && header.ExternalDataFileName is null)
            throw error("incompatible bit 2 (external data file) is set but no data file name extension exists", Structure,
                F.IncompatibleFeatures);
        return header;
    }

    private void ValidateL1(long fileLength, ImageErrorFactory error)
    {
        // docs/disk-formats.md §1.8: l1_size must cover the virtual size; the table must be aligned, inside the file
        // and at most 32 MiB.
        long clusterSpan = (long)ClusterSize * L2Entries;
        long needed = Size == 0 ? 0 : (Size - 1) / clusterSpan + 1;
        if (L1Size < needed)
            throw error($"l1_size {L1Size} is too small for a {Size}-byte disk (needs {needed})", Structure, F.L1Size);
        long bytes = (long)L1Size * L2EntrySizeForL1;
        if (bytes > F.MaxL1TableBytes)
            throw error($"L1 table of {L1Size} entries exceeds {F.MaxL1TableBytes >> 20} MiB", Structure, F.L1Size,
                ImageErrorKind.LimitExceeded);
        if (L1Size == 0) return;
        if ((L1TableOffset & (ClusterSize - 1)) != 0)
            throw error($"L1 table offset 0x{L1TableOffset:x} is not cluster-aligned", "qcow2 L1 table", L1TableOffset);
        if (L1TableOffset > fileLength || bytes > fileLength - L1TableOffset)
            throw error($"L1 table ({bytes} bytes at 0x{L1TableOffset:x}) runs past the end of the {fileLength}-byte file",
                "qcow2 L1 table", L1TableOffset, ImageErrorKind.Truncated);
    }

    /// <summary>
    /// The refcount table is not needed for reading, but one that is unaligned, oversized or past the end of the file means
    /// the file is damaged or cut short (docs/disk-formats.md §1.8).
    /// </summary>
    private void ValidateRefcountTable(long fileLength, ImageErrorFactory error)
    {
        ulong offset = RefcountTableOffset;
        long at = (long)Math.Min(offset, long.MaxValue);
        if ((offset & (ulong)(ClusterSize - 1)) != 0)
            throw error($"refcount table offset 0x{offset:x} is not cluster-aligned", Structure, F.RefcountTableOffset);
        if ((ulong)RefcountTableClusters * (ulong)ClusterSize > F.MaxRefcountTableBytes)
            throw error($"refcount table of {RefcountTableClusters} clusters exceeds {F.MaxRefcountTableBytes >> 20} MiB",
                Structure, F.RefcountTableClusters, ImageErrorKind.LimitExceeded);
        long bytes = RefcountTableBytes;
        if (offset > (ulong)fileLength || bytes > fileLength - at)
            throw error($"refcount table ({bytes} bytes at 0x{offset:x}) runs past the end of the {fileLength}-byte file",
                "qcow2 refcount table", at, ImageErrorKind.Truncated);
    }

    private const int L2EntrySizeForL1 = 8; // L1 entries are always 8 bytes

    private void ReadFirstCluster(SafeFileHandle file, long fileLength, ReadOnlySpan<byte> fixedPart,
        ImageErrorFactory error)
    {
        int length = (int)Math.Min(ClusterSize, fileLength);
        byte[] cluster = new byte[length];
        int got = RandomAccess.Read(file, cluster, 0);
        var span = cluster.AsSpan(0, got);

        if (Version == 3)
            ReadExtensions(span, error);

        ulong backingOffset = BinaryPrimitives.ReadUInt64BigEndian(fixedPart[F.BackingFileOffset..]);
        uint backingSize = BinaryPrimitives.ReadUInt32BigEndian(fixedPart[F.BackingFileSize..]);
        if (backingOffset != 0)
        {
            if (backingSize == 0 || backingSize > F.MaxBackingFileNameLength)
                throw error($"backing_file_size {backingSize} is outside 1..{F.MaxBackingFileNameLength}", Structure,
                    F.BackingFileSize);
            if (backingOffset > (ulong)span.Length || backingSize > (ulong)span.Length - backingOffset)
                throw backingOffset + backingSize <= (ulong)ClusterSize
                    ? error($"backing file name runs past the end of the {fileLength}-byte file", Structure,
                        (long)backingOffset, ImageErrorKind.Truncated)
                    : error("backing file name lies outside the first cluster", Structure, (long)Math.Min(backingOffset, long.MaxValue));
            BackingFileNameOffset = (long)backingOffset;
            BackingFileName = DecodeName(span.Slice((int)backingOffset, (int)backingSize), "backing file name", error,
                (long)backingOffset);
        }
    }

    private void ReadExtensions(ReadOnlySpan<byte> cluster, ImageErrorFactory error)
    {
        const string ext = "qcow2 header extension";
        int pos = (int)HeaderLength;
        // Every extension takes at least 8 bytes, so the loop ends within one cluster.
        while (pos + F.ExtensionHeaderSize <= cluster.Length)
        {
            uint type = BinaryPrimitives.ReadUInt32BigEndian(cluster[pos..]);
            uint length = BinaryPrimitives.ReadUInt32BigEndian(cluster[(pos + 4)..]);
            if (type == F.ExtensionEnd) return;
            int data = pos + F.ExtensionHeaderSize;
            if (length > (uint)(cluster.Length - data))
                throw cluster.Length < ClusterSize && length <= (uint)(ClusterSize - data)
                    ? error($"extension 0x{type:x8} of {length} bytes runs past the end of the file", ext, pos, ImageErrorKind.Truncated)
                    : error($"extension 0x{type:x8} of {length} bytes runs past the first cluster", ext, pos);
            var value = cluster.Slice(data, (int)length);
            switch (type)
            {
                case F.ExtensionBackingFormat:
                    BackingFormat = DecodeName(value, "backing format name", error, data);
                    break;
                case F.ExtensionExternalDataFile:
                    ExternalDataFileName = DecodeName(value, "external data file name", error, data);
                    break;
                case F.ExtensionFullDiskEncryption:
                    throw error("the image carries a full-disk-encryption header; encrypted qcow2 images are not supported",
                        ext, pos, ImageErrorKind.Unsupported);
            }
            pos = data + (int)((length + 7) & ~7u);
        }
        // Running into the end of the cluster without a terminator: tolerated (no further data expected).
    }

    private static string DecodeName(ReadOnlySpan<byte> bytes, string what, ImageErrorFactory error,
        long offset)
    {
        int nul = bytes.IndexOf((byte)0);
        if (nul >= 0) bytes = bytes[..nul];
        if (bytes.IsEmpty) throw error($"{what} is empty", Structure, offset);
        return Encoding.UTF8.GetString(bytes);
    }
}
