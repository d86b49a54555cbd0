using RootfsForge.Tree;

namespace RootfsForge.Ext4;

/// <summary>
/// A regular file's content: maps its blocks (or reads its inline data) once, opens readers over them, and tells the
/// walk's look-ahead how many content bytes it holds and which device ranges to prefetch.
/// </summary>
internal sealed class ContentOpener(EntryReader owner, Ext4Volume volume, XattrReader xattrs, Inode inode)
{
    private DataMap? _map;
    private byte[]? _inline;

    /// <summary>Maps the blocks (or reads the inline data) now.</summary>
    public void Prepare()
    {
        if (inode.HasFlag(Inode.Flag.InlineData)) _inline ??= InlineData.Read(xattrs, inode, sizeMayExceed: true);
        else _map ??= DataMap.Read(volume, inode);
    }

    /// <summary>The bytes of written blocks a reader will fetch from the device, at most <paramref name="limit"/>.</summary>
    public long ContentBytes(long limit)
    {
        if (_map is null) return 0;
        long total = 0;
        foreach (var run in _map.Runs)
        {
            total += RunBytes(run);
            if (total >= limit) return limit;
        }
        return total;
    }

    /// <summary>Hints the device to decode the first <paramref name="limit"/> bytes of written blocks.</summary>
    public void Prefetch(long limit)
    {
        if (_map is null) return;
        long left = limit;
        foreach (var run in _map.Runs)
        {
            if (left <= 0) return;
            if ((ulong)(run.Physical + run.Count) > volume.Superblock.BlocksCount) return; // the reader will warn
            long bytes = Math.Min(RunBytes(run), left);
            if (bytes <= 0) continue;
            volume.Device.Prefetch(run.Physical * volume.BlockSize, bytes);
            left -= bytes;
        }
    }

    private long RunBytes(BlockRun run) =>
        Math.Min(run.Count * volume.BlockSize, _map!.Size - run.Logical * volume.BlockSize);

    /// <summary>A new reader of the content (<see cref="TreeEntry.OpenContent"/>).</summary>
    public FileContent Open()
    {
        owner.OnContentOpened();
        if (inode.HasFlag(Inode.Flag.InlineData))
            return new Ext4InlineContent(_inline ??= InlineData.Read(xattrs, inode, sizeMayExceed: true), (long)inode.Size);
        _map ??= DataMap.Read(volume, inode);
        return new Ext4FileContent(volume, _map);
    }
}
