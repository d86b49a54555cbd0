using System.Buffers;
using System.Security.Cryptography;
using NSecHash = NSec.Cryptography.HashAlgorithm;

namespace RootfsForge.Flist;

/// <summary>One encoded block: the values of a <c>block</c> row and the bytes a store holds under <see cref="Id"/>.</summary>
/// <param name="Key">BLAKE2b-256 of the plaintext chunk (also the AES key).</param>
/// <param name="Id">BLAKE2b-256 of <see cref="Data"/>.</param>
/// <param name="Data">Snappy-compressed, AES-256-GCM-encrypted chunk with the 16-byte tag appended.</param>
internal readonly record struct EncodedBlock(byte[] Key, byte[] Id, byte[] Data);

/// <summary>
/// The rfs block pipeline (docs/flist-format.md §3): key = BLAKE2b-256(chunk), snappy raw, AES-256-GCM with nonce =
/// key[0..12] and the tag appended, id = BLAKE2b-256(ciphertext ‖ tag).
/// </summary>
internal static class FlistBlock
{
    /// <summary>
    /// Plaintext chunk size; the reader maps <c>offset / ChunkSize</c> to the block index (docs/flist-format.md §3 step
    /// 1).
    /// </summary>
    public const int ChunkSize = 524_288;

    /// <summary>Length of a key and of an id (BLAKE2b-256).</summary>
    public const int HashLength = 32;

    /// <summary>AES-GCM nonce length: the first 12 bytes of the key.</summary>
    public const int NonceLength = 12;

    /// <summary>AES-GCM tag length, appended after the ciphertext.</summary>
    public const int TagLength = 16;

    private static readonly NSecHash Blake2b256 = NSecHash.Blake2b_256;

    /// <summary>BLAKE2b-256 of <paramref name="data"/>.</summary>
    public static byte[] Hash(ReadOnlySpan<byte> data)
    {
        var h = new byte[HashLength];
        Blake2b256.Hash(data, h);
        return h;
    }

    /// <summary>Snappy raw encoding with the rfs-compatible encoder profile (docs/flist-format.md §3.2).</summary>
    public static byte[] Compress(ReadOnlySpan<byte> plaintext)
    {
        var buffer = new byte[SnappyRawEncoder.MaxEncodedLength(plaintext.Length)];
        return buffer[..SnappyRawEncoder.Encode(plaintext, buffer)];
    }

    /// <summary>Runs steps 2–5 of docs/flist-format.md §3 on one chunk (1 … <see cref="ChunkSize"/> bytes).</summary>
    public static EncodedBlock Encode(ReadOnlySpan<byte> chunk) => Encode(chunk, Hash(chunk));

    /// <summary>
    /// Runs steps 3–5 of docs/flist-format.md §3 on one chunk whose key (its BLAKE2b-256) is already known.
    /// </summary>
    public static EncodedBlock Encode(ReadOnlySpan<byte> chunk, byte[] key)
    {
        byte[] rented = EncodeRented(chunk, key, out int length);
        try
        {
            byte[] data = rented.AsSpan(0, length).ToArray();
            return new EncodedBlock(key, Hash(data), data);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// Steps 3–4 of docs/flist-format.md §3 into a buffer rented from <see cref="ArrayPool{T}.Shared"/> (the caller returns
    /// it): the block's bytes are its first <paramref name="length"/> bytes. For the pack's hot path, where a fresh array
    /// per block made most of the garbage collector's work.
    /// </summary>
    public static byte[] EncodeRented(ReadOnlySpan<byte> chunk, byte[] key, out int length)
    {
        if (chunk.IsEmpty || chunk.Length > ChunkSize)
            throw new ArgumentOutOfRangeException(nameof(chunk), chunk.Length, "a chunk holds 1 to 524288 bytes");
        if (key.Length != HashLength) throw new ArgumentException($"a key is {HashLength} bytes", nameof(key));
        byte[] data = ArrayPool<byte>.Shared.Rent(SnappyRawEncoder.MaxEncodedLength(chunk.Length) + TagLength);
        try
        {
            int clen = SnappyRawEncoder.Encode(chunk, data);
            // Encrypted in place (AES-GCM allows the plaintext and ciphertext to be the same memory), the tag after it.
            using (var aes = new AesGcm(key, TagLength))
            {
                var compressed = data.AsSpan(0, clen);
                aes.Encrypt(key.AsSpan(0, NonceLength), compressed, compressed, data.AsSpan(clen, TagLength));
            }
            length = clen + TagLength;
            return data;
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(data);
            throw;
        }
    }

    /// <summary>
    /// Reverses the pipeline: decrypts (verifying the tag) and decompresses. When <paramref name="verifyKey"/> is set the
    /// plaintext must also hash to <paramref name="key"/>. Throws <see cref="ImageFormatException"/> naming the block.
    /// </summary>
    public static byte[] Decode(ReadOnlySpan<byte> data, ReadOnlySpan<byte> key, ReadOnlySpan<byte> id, bool verifyKey = false)
    {
        string where = $"block {Convert.ToHexStringLower(id)}";
        if (key.Length != HashLength)
            throw new ImageFormatException($"key is {key.Length} bytes, expected {HashLength}", where);
        if (data.Length < TagLength)
            throw new ImageFormatException($"stored block is {data.Length} bytes, shorter than the AES-GCM tag", where);
        int clen = data.Length - TagLength;
        byte[] compressed = ArrayPool<byte>.Shared.Rent(Math.Max(clen, 1));
        try
        {
            try
            {
                using var aes = new AesGcm(key, TagLength);
                aes.Decrypt(key[..NonceLength], data[..clen], data[clen..], compressed.AsSpan(0, clen));
            }
            catch (AuthenticationTagMismatchException e)
            {
                throw new ImageFormatException("block does not decrypt with its key (wrong key or corrupt block)", where,
                    inner: e, kind: ImageErrorKind.ChecksumMismatch); // the AES-GCM tag is the block's checksum
            }
            ReadOnlySpan<byte> c = compressed.AsSpan(0, clen);
            int length = SnappyDecodedLength(c, where);
            if (length > ChunkSize)
                throw new ImageFormatException($"block decompresses to {length} bytes, more than {ChunkSize}", where);
            byte[] plain;
            try
            {
                plain = IronSnappy.Snappy.Decode(c);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                throw new ImageFormatException("block is not valid snappy data", where, inner: e);
            }
            if (verifyKey && !Hash(plain).AsSpan().SequenceEqual(key))
                throw new ImageFormatException("block content does not hash to its key", where);
            return plain;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(compressed);
        }
    }

    /// <summary>
    /// Reads the snappy preamble (unsigned LE base-128 varint, docs/flist-format.md §3.1) so a hostile length is
    /// refused before decoding.
    /// </summary>
    private static int SnappyDecodedLength(ReadOnlySpan<byte> c, string where)
    {
        ulong v = 0;
        for (int i = 0, shift = 0; i < c.Length && i < 5; i++, shift += 7)
        {
            v |= (ulong)(c[i] & 0x7F) << shift;
            if ((c[i] & 0x80) == 0) return v > int.MaxValue ? int.MaxValue : (int)v;
        }
        throw new ImageFormatException("block has no valid snappy length preamble", where);
    }
}
