using System.Collections.Concurrent;

namespace RootfsForge.Flist;

/// <summary>
/// A local, persistent map from a chunk's key (BLAKE2b-256 of the plaintext) to its block id. Both are functions of the
/// plaintext alone (docs/flist-format.md §3: the AES key and nonce come from the key, so the ciphertext and its hash do
/// too), so an entry never goes stale: a repack that finds a chunk's key here knows the block id without compressing
/// and encrypting, and only encodes it if a store turns out not to hold it. Several processes may share one file.
/// </summary>
/// <remarks>
/// The file is a 16-byte header (<see cref="Magic"/>) followed by 72-byte records appended with O_APPEND: key (32), id
/// (32), and the first 8 bytes of BLAKE2b-256(key ‖ id), so a torn or damaged record is skipped instead of mapping a key
/// to a wrong block. At most <see cref="MaxEntries"/> records are loaded (about 100 MB of memory).
/// </remarks>
internal sealed class BlockIdIndex : IDisposable
{
    private const int RecordLength = FlistBlock.HashLength * 2 + CheckLength;
    private const int CheckLength = 8;
    private static readonly byte[] Magic = "rootfsforge-bix1"u8.ToArray();

    /// <summary>The most records kept in memory; later keys are not remembered.</summary>
    public const int MaxEntries = 1 << 20;

    private readonly ConcurrentDictionary<HashKey, byte[]> _ids = new();

    // Counted apart from the dictionary: ConcurrentDictionary.Count takes every lock, and Add runs on every worker for
    // every new block.
    private int _count;
    private readonly Microsoft.Win32.SafeHandles.SafeFileHandle? _append;

    private BlockIdIndex(Microsoft.Win32.SafeHandles.SafeFileHandle? append) => _append = append;

    /// <summary>An index kept only in memory (for one build).</summary>
    public static BlockIdIndex InMemory() => new(null);

    /// <summary>
    /// Opens (or creates) the index file at <paramref name="path"/> and loads its valid records. A file that is not an
    /// index is refused; a damaged record is skipped.
    /// </summary>
    public static BlockIdIndex Open(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var append = IO.Posix.OpenForAppend(path);
        try
        {
            var index = new BlockIdIndex(append);
            using (var read = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0))
                index.Load(read);
            return index;
        }
        catch
        {
            append.Dispose();
            throw;
        }
    }

    /// <summary>The number of keys known.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>The block id of the chunk whose key is <paramref name="key"/>, when known.</summary>
    public bool TryGetId(ReadOnlySpan<byte> key, out byte[] id) => _ids.TryGetValue(HashKey.From(key), out id!);

    /// <summary>Remembers <paramref name="id"/> for <paramref name="key"/> (and appends it to the file, one record per write).</summary>
    public void Add(byte[] key, byte[] id)
    {
        if (Volatile.Read(ref _count) >= MaxEntries || !_ids.TryAdd(HashKey.From(key), id)) return;
        Interlocked.Increment(ref _count);
        if (_append is null) return;
        Span<byte> record = stackalloc byte[RecordLength];
        key.CopyTo(record);
        id.CopyTo(record[FlistBlock.HashLength..]);
        Check(record[..(2 * FlistBlock.HashLength)], record[(2 * FlistBlock.HashLength)..]);
        RandomAccess.Write(_append, record, fileOffset: 0); // O_APPEND: the kernel puts it at the end
    }

    private void Load(FileStream file)
    {
        if (file.Length == 0)
        {
            RandomAccess.Write(_append!, Magic, fileOffset: 0);
            return;
        }
        Span<byte> header = stackalloc byte[Magic.Length];
        if (file.Length < Magic.Length || file.ReadAtLeast(header, Magic.Length, throwOnEndOfStream: false) < Magic.Length
            || !header.SequenceEqual(Magic))
            throw new InvalidDataException($"'{file.Name}' is not a RootfsForge block index");
        var buffer = new byte[RecordLength * 4096];
        Span<byte> check = stackalloc byte[CheckLength];
        int carry = 0;
        while (_count < MaxEntries)
        {
            int n = file.Read(buffer, carry, buffer.Length - carry);
            if (n == 0) break;
            int available = carry + n, at = 0;
            for (; at + RecordLength <= available; at += RecordLength)
            {
                var record = buffer.AsSpan(at, RecordLength);
                Check(record[..(2 * FlistBlock.HashLength)], check);
                if (!check.SequenceEqual(record[(2 * FlistBlock.HashLength)..])) continue; // torn or damaged
                if (_ids.TryAdd(HashKey.From(record[..FlistBlock.HashLength]), record.Slice(FlistBlock.HashLength, FlistBlock.HashLength).ToArray()))
                    _count++;
            }
            carry = available - at;
            buffer.AsSpan(at, carry).CopyTo(buffer);
        }
    }

    private static void Check(ReadOnlySpan<byte> keyAndId, Span<byte> destination) =>
        FlistBlock.Hash(keyAndId).AsSpan(0, CheckLength).CopyTo(destination);

    public void Dispose() => _append?.Dispose();
}
