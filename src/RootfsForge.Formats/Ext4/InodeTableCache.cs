namespace RootfsForge.Ext4;

/// <summary>
/// Reads inode-table bytes in large aligned chunks and keeps a few recently used ones: a directory's inodes are read in
/// inode-number order (see <see cref="Ext4TreeWalker"/>), so consecutive reads mostly hit the same chunk.
/// </summary>
internal sealed class InodeTableCache(Ext4Volume volume)
{
    private const int Slots = 32;
    private readonly int _chunk = Math.Max(128 * 1024, volume.BlockSize);
    private readonly long[] _keys = NewKeys();
    private readonly byte[]?[] _data = new byte[Slots][];
    private readonly Lock _lock = new();

    private static long[] NewKeys()
    {
        var keys = new long[Slots];
        Array.Fill(keys, -1L);
        return keys;
    }

    /// <summary>Copies <paramref name="destination"/>.Length bytes at <paramref name="offset"/> (within one chunk: one inode record).</summary>
    public void Read(long offset, Span<byte> destination)
    {
        long key = offset / _chunk;
        int within = (int)(offset - key * _chunk);
        int slot = (int)(key % Slots);
        lock (_lock)
        {
            if (_keys[slot] != key)
            {
                var buf = _data[slot] ??= new byte[_chunk];
                _keys[slot] = -1;
                long start = key * _chunk;
                Ext4Volume.ReadZeroPadded(volume.Device, start, buf);
                _keys[slot] = key;
                volume.Device.Prefetch(start + _chunk, _chunk);
            }
            _data[slot].AsSpan(within, destination.Length).CopyTo(destination);
        }
    }
}
