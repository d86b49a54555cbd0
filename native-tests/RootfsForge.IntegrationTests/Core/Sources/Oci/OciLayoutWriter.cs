using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace RootfsForge.NativeTests.Oci;

/// <summary>
/// Writes OCI image layouts by hand (blobs/sha256, manifest, config, index.json) for inputs that tools will not make:
/// hostile or malformed layers, decompression bombs, unknown media types. Layers are given as tar writers and
/// compressed here.
/// </summary>
internal sealed class OciLayoutWriter
{
    private readonly List<(string MediaType, string Digest, long Size, string DiffId)> _layers = [];

    public OciLayoutWriter(string dir)
    {
        Dir = dir;
        Directory.CreateDirectory(Path.Combine(dir, "blobs", "sha256"));
        File.WriteAllText(Path.Combine(dir, "oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
    }

    public string Dir { get; }

    /// <summary>Adds a layer: <paramref name="writeTar"/> writes the tar; it is stored plain, gzip or zstd.</summary>
    public string AddLayer(Action<Stream> writeTar, string compression = "gzip", string? mediaType = null)
    {
        string tmp = Path.Combine(Dir, "layer.tmp");
        using var diff = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using (var file = File.Create(tmp))
        {
            Stream compressor = compression switch
            {
                "gzip" => new GZipStream(file, CompressionLevel.Optimal, leaveOpen: true),
                "zstd" => new ZstdSharp.CompressionStream(file, 3, leaveOpen: true),
                _ => new NonClosing(file),
            };
            using (var hashing = new HashingWriteStream(compressor, diff)) writeTar(hashing);
            compressor.Dispose();
        }
        string digest = Move(tmp);
        string type = mediaType ?? compression switch
        {
            "gzip" => "application/vnd.oci.image.layer.v1.tar+gzip",
            "zstd" => "application/vnd.oci.image.layer.v1.tar+zstd",
            _ => "application/vnd.oci.image.layer.v1.tar",
        };
        _layers.Add((type, digest, new FileInfo(BlobPath(digest)).Length, "sha256:" + Convert.ToHexStringLower(diff.GetHashAndReset())));
        return digest;
    }

    /// <summary>Writes config, manifest and index.json (one entry named <paramref name="tag"/>); returns the manifest digest.</summary>
    public string Finish(string tag = "latest", string manifestMediaType = "application/vnd.oci.image.manifest.v1+json")
    {
        var config = JsonSerializer.SerializeToUtf8Bytes(new
        {
            architecture = "amd64", os = "linux",
            config = new { Cmd = new[] { "/bin/sh" } },
            rootfs = new { type = "layers", diff_ids = _layers.Select(l => l.DiffId).ToArray() },
        });
        string configDigest = AddBlob(config);
        var manifest = JsonSerializer.SerializeToUtf8Bytes(new
        {
            schemaVersion = 2, mediaType = manifestMediaType,
            config = new { mediaType = "application/vnd.oci.image.config.v1+json", digest = configDigest, size = config.Length },
            layers = _layers.Select(l => new { mediaType = l.MediaType, digest = l.Digest, size = l.Size }).ToArray(),
        });
        string manifestDigest = AddBlob(manifest);
        File.WriteAllBytes(Path.Combine(Dir, "index.json"), JsonSerializer.SerializeToUtf8Bytes(new
        {
            schemaVersion = 2, mediaType = "application/vnd.oci.image.index.v1+json",
            manifests = new[]
            {
                new
                {
                    mediaType = manifestMediaType, digest = manifestDigest, size = manifest.Length,
                    annotations = new Dictionary<string, string> { ["org.opencontainers.image.ref.name"] = tag },
                },
            },
        }));
        return manifestDigest;
    }

    public string BlobPath(string digest) => Path.Combine(Dir, "blobs", "sha256", digest["sha256:".Length..]);

    private string AddBlob(byte[] content)
    {
        string digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(content));
        File.WriteAllBytes(BlobPath(digest), content);
        return digest;
    }

    private string Move(string tmp)
    {
        string digest;
        using (var f = File.OpenRead(tmp)) digest = "sha256:" + Convert.ToHexStringLower(SHA256.HashData(f));
        File.Move(tmp, BlobPath(digest), overwrite: true);
        return digest;
    }

    /// <summary>A tar of one regular file of <paramref name="size"/> zero bytes (streamed, never in memory).</summary>
    public static Action<Stream> ZeroFileTar(string name, long size) => s =>
    {
        using var w = new System.Formats.Tar.TarWriter(s, System.Formats.Tar.TarEntryFormat.Pax, leaveOpen: true);
        var e = new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.RegularFile, name) { DataStream = new ZeroStream(size) };
        w.WriteEntry(e);
    };

    /// <summary>A tar of small text files.</summary>
    public static Action<Stream> FilesTar(params (string Name, string Content)[] files) => s =>
    {
        using var w = new System.Formats.Tar.TarWriter(s, System.Formats.Tar.TarEntryFormat.Pax, leaveOpen: true);
        foreach (var (name, content) in files)
            w.WriteEntry(new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.RegularFile, name)
            {
                DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)),
            });
    };

    private sealed class ZeroStream(long length) : Stream
    {
        private long _position;

        public override bool CanRead => true;
        public override bool CanSeek => true;
        public override bool CanWrite => false;
        public override long Length => length;
        public override long Position { get => _position; set => _position = value; }

        public override int Read(byte[] buffer, int offset, int count)
        {
            int n = (int)Math.Min(count, length - _position);
            Array.Clear(buffer, offset, n);
            _position += n;
            return n;
        }

        public override long Seek(long offset, SeekOrigin origin) => _position = origin switch
        {
            SeekOrigin.Begin => offset, SeekOrigin.Current => _position + offset, _ => length + offset,
        };

        public override void Flush() { }
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    private sealed class HashingWriteStream(Stream inner, IncrementalHash hash) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count)
        {
            hash.AppendData(buffer, offset, count);
            inner.Write(buffer, offset, count);
        }

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            hash.AppendData(buffer);
            inner.Write(buffer);
        }

        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }

    private sealed class NonClosing(Stream inner) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
