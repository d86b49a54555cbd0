using System.Buffers.Binary;
using RootfsForge.Tree;

namespace RootfsForge.Ext4;

public sealed partial class Ext4FileSystem
{
    private const int MaxCachedXattrBlocks = 4096;

    /// <summary>
    /// The exported xattrs of an inode (in-inode area, then the xattr block; the in-inode value wins on a duplicate),
    /// sorted by name. system.data and encryption contexts are never exported; ACLs are converted to the v2 form.
    /// </summary>
    private IReadOnlyList<ExtendedAttribute> ReadXattrs(Inode inode)
    {
        var (list, _) = ReadInlineXattrs(inode, exportOnly: true);
        if (inode.FileAcl != 0)
        {
            var block = ReadXattrBlock(inode);
            if (block.Length > 0)
            {
                list ??= [];
                foreach (var a in block)
                    if (!list.Exists(x => x.Name == a.Name)) list.Add(a);
            }
        }
        if (list is null || list.Count == 0) return [];
        list.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name));
        return list;
    }

    /// <summary>Parses the in-inode xattr area: the exported attributes and the raw system.data value.</summary>
    private (List<ExtendedAttribute>? Exported, byte[]? SystemData) ReadInlineXattrs(Inode inode, bool exportOnly)
    {
        int start = inode.InlineXattrStart;
        var raw = inode.Raw.AsSpan();
        if (start + ExtendedAttributes.InodeHeaderSize > raw.Length) return (null, null);
        if (BinaryPrimitives.ReadUInt32LittleEndian(raw[start..]) != ExtendedAttributes.Magic) return (null, null);
        var region = raw[(start + ExtendedAttributes.InodeHeaderSize)..];
        var entries = new List<ExtendedAttributes.RawEntry>();
        try
        {
            ExtendedAttributes.ParseEntries(region, 0, 0, entries, $"ext4 inode {inode.Number} in-inode xattrs", null);
        }
        catch (ImageFormatException e)
        {
            Warn($"inode {inode.Number}: in-inode xattrs are damaged, ignored after the first {entries.Count}: {e.Reason}");
        }
        byte[]? systemData = null;
        List<ExtendedAttribute>? list = null;
        foreach (var e in entries)
        {
            if (e.Index == ExtendedAttributes.NameIndex.System && e.Name.AsSpan().SequenceEqual("data"u8))
            {
                systemData = e.Value ?? [];
                continue;
            }
            if (!exportOnly) continue;
            var a = Convert(inode, e);
            if (a is not null) (list ??= []).Add(a);
        }
        return (list, systemData);
    }

    private ExtendedAttribute[] ReadXattrBlock(Inode inode)
    {
        ulong block = inode.FileAcl;
        lock (_xattrBlockCache)
        {
            if (_xattrBlockCache.TryGetValue(block, out var cached)) return cached;
        }
        string what = $"ext4 inode {inode.Number} xattr block";
        long offset = (long)Math.Min(block, (ulong)(long.MaxValue / BlockSize)) * BlockSize;
        if (block >= Superblock.BlocksCount)
        {
            Warn($"inode {inode.Number}: xattr block {block} is outside the filesystem; ignored");
            return [];
        }
        var buf = new byte[BlockSize];
        ReadBlocks((long)block, buf, what);
        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(buf);
        uint blocks = BinaryPrimitives.ReadUInt32LittleEndian(buf.AsSpan(ExtendedAttributes.BlockHeader.Blocks));
        if (magic != ExtendedAttributes.Magic || blocks != 1)
        {
            Warn($"inode {inode.Number}: xattr block {block} has a bad header (magic 0x{magic:x8}, blocks {blocks}); ignored");
            return [];
        }
        if (_verify)
        {
            var (stored, computed) = ExtendedAttributes.BlockChecksums(_csumSeed, block, buf);
            if (stored != computed)
                throw new Ext4ChecksumException($"checksum mismatch (stored 0x{stored:x8}, computed 0x{computed:x8})", what, offset);
        }
        var entries = new List<ExtendedAttributes.RawEntry>();
        try
        {
            ExtendedAttributes.ParseEntries(buf, ExtendedAttributes.BlockHeader.Size, 0, entries, what, offset);
        }
        catch (ImageFormatException e)
        {
            Warn($"inode {inode.Number}: xattr block {block} is damaged, ignored after the first {entries.Count} entries: {e.Reason}");
        }
        var list = new List<ExtendedAttribute>(entries.Count);
        foreach (var e in entries)
        {
            var a = Convert(inode, e);
            if (a is not null && !list.Exists(x => x.Name == a.Name)) list.Add(a);
        }
        var result = list.ToArray();
        lock (_xattrBlockCache)
        {
            if (_xattrBlockCache.Count >= MaxCachedXattrBlocks) _xattrBlockCache.Clear();
            _xattrBlockCache[block] = result;
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
            Warn($"inode {inode.Number}: xattr with unknown name index {e.Index} skipped");
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
            catch (Ext4ChecksumException)
            {
                throw;
            }
            catch (ImageFormatException ex)
            {
                Warn($"inode {inode.Number}: xattr {name} (value in inode {e.ValueInode}) unreadable, skipped: {ex.Message}");
                return null;
            }
        }
        if (e.Index is ExtendedAttributes.NameIndex.PosixAclAccess or ExtendedAttributes.NameIndex.PosixAclDefault)
        {
            var converted = PosixAcl.DiskToXattr(value);
            if (converted is null)
            {
                Warn($"inode {inode.Number}: {name} is not a valid ext4 ACL; skipped");
                return null;
            }
            value = converted;
        }
        return new ExtendedAttribute(name, value);
    }

    /// <summary>An EA_INODE value: the first value_size bytes of that inode's data (§3.8).</summary>
    private byte[] ReadEaInodeValue(uint number, uint size)
    {
        string what = $"ext4 inode {number} (xattr value)";
        if (size > ExtendedAttributes.MaxValueSize)
            throw new ImageFormatException($"xattr value size {size} exceeds {ExtendedAttributes.MaxValueSize}", what);
        var inode = ReadInode(number);
        if (!inode.HasFlag(Inode.Flag.EaInode) || inode.Type != Inode.ModeType.Reg)
            throw new ImageFormatException("the inode is not an xattr value inode", what);
        if (inode.Size < size) throw new ImageFormatException($"the value inode holds {inode.Size} bytes, fewer than {size}", what);
        var value = new byte[size];
        if (inode.HasFlag(Inode.Flag.InlineData))
        {
            ReadInlineData(inode).AsSpan(0, (int)size).CopyTo(value);
            return value;
        }
        using var content = new Ext4FileContent(Device, GetDataMap(inode), BlockSize, Superblock.BlocksCount);
        content.ReadExactlyAt(0, value);
        return value;
    }
}
