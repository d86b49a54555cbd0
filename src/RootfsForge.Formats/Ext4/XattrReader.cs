using System.Buffers.Binary;
using RootfsForge.Tree;

namespace RootfsForge.Ext4;

/// <summary>
/// Reads an inode's extended attributes (docs/disk-formats.md §3.8): the in-inode area, then the shared xattr block
/// (cached by block number), values stored in EA inodes, and POSIX ACLs converted to the Linux xattr form. A damaged
/// attribute list is read up to the damage, with a warning; a checksum mismatch always throws.
/// </summary>
internal sealed class XattrReader(Ext4Volume volume, InodeReader inodes)
{
    private const int MaxCachedBlocks = 4096;

    private readonly Dictionary<ulong, ExtendedAttribute[]> _blockCache = [];

    /// <summary>
    /// The exported xattrs of an inode (in-inode area, then the xattr block; the in-inode value wins on a duplicate), sorted
    /// by name. system.data and encryption contexts are never exported; ACLs are converted to the v2 form.
    /// </summary>
    public IReadOnlyList<ExtendedAttribute> ReadExported(Inode inode)
    {
        ParseInInode(inode, export: true, out var list);
        if (inode.FileAcl != 0)
        {
            var block = ReadBlock(inode);
            if (block.Length > 0)
            {
                list ??= new List<ExtendedAttribute>(block.Length);
                foreach (var a in block)
                    if (!ContainsName(list, a.Name)) list.Add(a);
            }
        }
        if (list is null || list.Count == 0) return [];
        list.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name));
        return list;
    }

    /// <summary>
    /// The raw value of the in-inode <c>system.data</c> attribute (the second part of inline data,
    /// docs/disk-formats.md §3.6), or null.
    /// </summary>
    public byte[]? ReadSystemData(Inode inode) => ParseInInode(inode, export: false, out _);

    /// <summary>Parses the in-inode xattr area: the exported attributes (when asked for) and the raw system.data value.</summary>
    private byte[]? ParseInInode(Inode inode, bool export, out List<ExtendedAttribute>? exported)
    {
        exported = null;
        int start = inode.InlineXattrStart;
        var raw = inode.Raw.AsSpan();
        if (start + ExtendedAttributes.InodeHeaderSize > raw.Length) return null;
        if (BinaryPrimitives.ReadUInt32LittleEndian(raw[start..]) != ExtendedAttributes.Magic) return null;
        int regionStart = start + ExtendedAttributes.InodeHeaderSize;
        var entries = new List<ExtendedAttributes.RawEntry>();
        try
        {
            ExtendedAttributes.ParseEntries(raw[regionStart..], 0, 0, entries, $"ext4 inode {inode.Number} in-inode xattrs",
                inode.Offset + regionStart);
        }
        catch (ImageFormatException e)
        {
            volume.Warn($"inode {inode.Number}: in-inode xattrs are damaged, ignored after the first {entries.Count}: {e.Reason}");
        }
        byte[]? systemData = null;
        foreach (var e in entries)
        {
            if (e.Index == ExtendedAttributes.NameIndex.System && e.Name.AsSpan().SequenceEqual("data"u8))
            {
                systemData = e.Value ?? [];
                continue;
            }
            if (!export) continue;
            var a = Convert(inode, e);
            if (a is not null) (exported ??= []).Add(a);
        }
        return systemData;
    }

    /// <summary>The exported attributes of the inode's xattr block (shared by inodes: cached by block number).</summary>
    private ExtendedAttribute[] ReadBlock(Inode inode)
    {
        ulong block = inode.FileAcl;
        lock (_blockCache)
        {
            if (_blockCache.TryGetValue(block, out var cached)) return cached;
        }
        if (block >= volume.Superblock.BlocksCount)
        {
            volume.Warn($"inode {inode.Number}: xattr block {block} is outside the filesystem; ignored");
            return [];
        }
        string what = $"ext4 inode {inode.Number} xattr block {block}";
        long offset = (long)block * volume.BlockSize;
        var buf = new byte[volume.BlockSize];
        volume.ReadBlocks((long)block, buf, what);
        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(buf);
        uint blocks = BinaryPrimitives.ReadUInt32LittleEndian(buf.AsSpan(ExtendedAttributes.BlockHeader.Blocks));
        if (magic != ExtendedAttributes.Magic || blocks != 1)
        {
            volume.Warn($"inode {inode.Number}: xattr block {block} has a bad header (magic 0x{magic:x8}, blocks {blocks}); ignored");
            return [];
        }
        if (volume.Verify)
        {
            var (stored, computed) = ExtendedAttributes.BlockChecksums(volume.CsumSeed, block, buf);
            if (stored != computed)
                throw new ImageFormatException($"checksum mismatch (stored 0x{stored:x8}, computed 0x{computed:x8})", what, offset,
                    kind: ImageErrorKind.ChecksumMismatch);
        }
        var entries = new List<ExtendedAttributes.RawEntry>();
        try
        {
            ExtendedAttributes.ParseEntries(buf, ExtendedAttributes.BlockHeader.Size, 0, entries, what, offset);
        }
        catch (ImageFormatException e)
        {
            volume.Warn($"inode {inode.Number}: xattr block {block} is damaged, ignored after the first {entries.Count} entries: {e.Reason}");
        }
        var list = new List<ExtendedAttribute>(entries.Count);
        foreach (var e in entries)
        {
            var a = Convert(inode, e);
            if (a is not null && !ContainsName(list, a.Name)) list.Add(a);
        }
        var result = list.ToArray();
        lock (_blockCache)
        {
            if (_blockCache.Count >= MaxCachedBlocks) _blockCache.Clear();
            _blockCache[block] = result;
        }
        return result;
    }

    /// <summary>Turns a raw entry into an exported attribute, or null (not exported, or unreadable with a warning).</summary>
    private ExtendedAttribute? Convert(Inode inode, ExtendedAttributes.RawEntry e)
    {
        if (e.Index == ExtendedAttributes.NameIndex.Encryption) return null;
        string? prefix = ExtendedAttributes.Prefix(e.Index);
        if (prefix is null)
        {
            volume.Warn($"inode {inode.Number}: xattr with unknown name index {e.Index} skipped");
            return null;
        }
        bool fixedName = e.Index is ExtendedAttributes.NameIndex.PosixAclAccess or ExtendedAttributes.NameIndex.PosixAclDefault
            or ExtendedAttributes.NameIndex.RichAcl;
        string name = fixedName ? prefix : prefix + FileNameEncoding.GetString(e.Name);
        if (name == "system.data") return null;
        byte[]? value = e.Value;
        if (value is null)
        {
            try
            {
                value = ReadEaInodeValue(e.ValueInode, e.ValueSize);
            }
            catch (ImageFormatException ex) when (ex.Kind != ImageErrorKind.ChecksumMismatch)
            {
                volume.Warn($"inode {inode.Number}: xattr {name} (value in inode {e.ValueInode}) unreadable, skipped: {ex.Message}");
                return null;
            }
        }
        if (e.Index is ExtendedAttributes.NameIndex.PosixAclAccess or ExtendedAttributes.NameIndex.PosixAclDefault)
        {
            var converted = PosixAcl.DiskToXattr(value);
            if (converted is null)
            {
                volume.Warn($"inode {inode.Number}: {name} is not a valid ext4 ACL; skipped");
                return null;
            }
            value = converted;
        }
        return new ExtendedAttribute(name, value);
    }

    /// <summary>
    /// An EA_INODE value: the first value_size bytes of that inode's data (docs/disk-formats.md §3.8).
    /// </summary>
    private byte[] ReadEaInodeValue(uint number, uint size)
    {
        string what = $"ext4 inode {number} (xattr value)";
        if (size > ExtendedAttributes.MaxValueSize)
            throw new ImageFormatException($"xattr value size {size} exceeds {ExtendedAttributes.MaxValueSize}", what,
                inodes.OffsetOf(number), kind: ImageErrorKind.LimitExceeded);
        var inode = inodes.Read(number);
        if (!inode.HasFlag(Inode.Flag.EaInode) || inode.Type != Inode.ModeType.Reg)
            throw new ImageFormatException("the inode is not an xattr value inode", what, inode.Offset);
        if (inode.Size < size)
            throw new ImageFormatException($"the value inode holds {inode.Size} bytes, fewer than {size}", what, inode.Offset);
        var value = new byte[size];
        if (inode.HasFlag(Inode.Flag.InlineData))
        {
            InlineData.Read(this, inode).AsSpan(0, (int)size).CopyTo(value);
            return value;
        }
        using var content = new Ext4FileContent(volume, DataMap.Read(volume, inode));
        content.ReadExactlyAt(0, value);
        return value;
    }

    private static bool ContainsName(List<ExtendedAttribute> list, string name)
    {
        foreach (var a in list)
            if (a.Name == name) return true;
        return false;
    }
}
