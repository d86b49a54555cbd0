using System.Formats.Tar;
using System.Security.Cryptography;
using System.Text.Json;

namespace RootfsForge.Sources.Oci;

/// <summary>
/// A <c>docker save</c> / <c>podman save</c> / <c>skopeo copy … docker-archive:</c> tar: <c>manifest.json</c> lists
/// each image's config member and layer members (plain tar, or gzip/zstd), <c>RepoTags</c> names them. Read in place:
/// the config is checked against the digest in its member name (the image ID), each layer's tar against the
/// config's <c>rootfs.diff_ids</c>, through the same open handle that then serves it.
/// </summary>
internal sealed class DockerArchiveSource : ImageSource
{
    private const int MaxManifestJson = 16 << 20;
    private const int MaxLinkHops = 8;

    private readonly ImageReference _reference;
    private readonly string _path;
    private readonly int _maxExpansion;
    private readonly Dictionary<string, Member> _members = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Member> _layerMembers = new(StringComparer.Ordinal);

    public DockerArchiveSource(ImageReference reference, OciImageOptions options)
    {
        _reference = reference;
        _path = Path.GetFullPath(reference.Path!);
        _maxExpansion = options.MaxLayerExpansion;
    }

    private sealed record Member(string Name, long Offset, long Size, TarEntryType Type, string? LinkName);

    public override async Task<ResolvedImage> ResolveAsync(Platform? platform, CancellationToken cancellationToken)
    {
        string name = _reference.ToString();
        if (!File.Exists(_path)) throw new FileNotFoundException($"{name}: {_path} does not exist", _path);
        await IndexMembersAsync(cancellationToken).ConfigureAwait(false);

        if (!_members.ContainsKey("manifest.json")) throw Error("not a docker archive: it has no manifest.json");
        var manifestBytes = await ReadMemberAsync(Resolve("manifest.json", "the archive"), MaxManifestJson, cancellationToken).ConfigureAwait(false);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(manifestBytes);
        }
        catch (JsonException e)
        {
            throw new ImageFormatException($"manifest.json is malformed JSON: {e.Message}", _path, null, e);
        }
        using var _ = doc;
        if (doc.RootElement.ValueKind != JsonValueKind.Array) throw Error("manifest.json is not an array");
        var images = doc.RootElement.EnumerateArray().ToArray();
        var image = Choose(images);

        string configName = JsonRead.RequiredString(image, "Config", "manifest.json");
        var configDigest = DigestInName(configName)
            ?? throw Error($"config member '{configName}' is not named by its sha256 digest, so it cannot be checked");
        var configMember = Resolve(configName, "manifest.json Config");
        if (configMember.Size > MaxConfigSize) throw Error($"config member '{configName}' is larger than {MaxConfigSize} bytes");
        var configBytes = await ReadMemberAsync(configMember, (int)MaxConfigSize, cancellationToken).ConfigureAwait(false);
        if (ContentDigest.Of(configBytes) != configDigest)
            throw new ImageFormatException($"content does not match its digest (got {ContentDigest.Of(configBytes)})", $"config {configDigest}");
        var config = ImageConfig.Parse(configBytes, $"config {configDigest}");

        var layerNames = JsonRead.StringArray(image, "Layers", "manifest.json");
        if (layerNames.Count != config.DiffIds.Count)
            throw Error($"the image has {layerNames.Count} layers but its config lists {config.DiffIds.Count} diff_ids");
        var foreign = JsonRead.Object(image, "LayerSources", "manifest.json") is JsonElement ls
            ? ls.EnumerateObject().Select(p => p.Name).ToHashSet(StringComparer.Ordinal)
            : [];
        var layers = new List<LayerDescriptor>();
        for (int i = 0; i < layerNames.Count; i++)
        {
            string diffId = config.DiffIds[i];
            if (!_members.ContainsKey(Normal(layerNames[i])) && foreign.Contains(diffId))
                throw new UnsupportedImageException($"layer {i} is a foreign layer that the archive does not hold (fetch it from a registry instead)", $"layer {diffId}");
            var member = Resolve(layerNames[i], $"manifest.json Layers[{i}]");
            var compression = await SniffAsync(member, cancellationToken).ConfigureAwait(false);
            // A plain layer's blob digest is its diff_id; a compressed one's is hashed here, checked again on open.
            string digest = compression == LayerCompression.None ? diffId : (await HashMemberAsync(member, cancellationToken).ConfigureAwait(false)).ToString();
            string mediaType = compression switch
            {
                LayerCompression.Gzip => MediaTypes.DockerLayerGzip,
                LayerCompression.Zstd => MediaTypes.OciLayerZstd,
                _ => MediaTypes.DockerLayer,
            };
            _layerMembers[digest] = member;
            layers.Add(new LayerDescriptor(mediaType, digest, member.Size, compression, diffId, []));
        }

        var configPlatform = new Platform(config.Os, config.Architecture, config.Variant);
        if (platform is not null && config.Os.Length > 0 && !platform.Matches(configPlatform))
            throw new UnsupportedImageException($"{name} is an image for {configPlatform}, not {platform}", _path);
        return new ResolvedImage(null, null, null, null, configPlatform, [configPlatform], config, configDigest.ToString(), layers);
    }

    public override async Task<Stream> OpenLayerAsync(LayerDescriptor layer, Action<long> onDownloaded, CancellationToken cancellationToken)
    {
        if (!_layerMembers.TryGetValue(layer.Digest, out var member))
            throw new ArgumentException($"layer {layer.Digest} is not a layer of this image", nameof(layer));
        var stream = OpenMember(member);
        try
        {
            string what = $"layer {layer.DiffId}";
            if (layer.Compression != LayerCompression.None)
            {
                var raw = await stream.HashAsync(cancellationToken).ConfigureAwait(false);
                if (raw.ToString() != layer.Digest) throw new ImageFormatException($"member {member.Name} changed while it was read", what);
            }
            // The diff_id is the digest of the uncompressed tar: decompress (bounded) and hash it.
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var tar = await LayerStream.OpenAsync(stream, member.Size, _maxExpansion, layer.Digest, cancellationToken).ConfigureAwait(false);
            var buffer = new byte[1 << 20];
            int n;
            while ((n = await tar.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0) hash.AppendData(buffer, 0, n);
            var actual = ContentDigest.FromHash(hash.GetHashAndReset());
            if (actual.ToString() != layer.DiffId)
                throw new ImageFormatException($"member {member.Name} does not match the layer's diff_id (got {actual})", what);
            await tar.DisposeAsync().ConfigureAwait(false); // also closes the member stream
            return OpenMember(member);
        }
        catch
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    protected override Task<ManifestDocument> ReadManifestAsync(Descriptor descriptor, CancellationToken cancellationToken) =>
        throw new NotSupportedException("a docker archive has no manifests");

    protected override Task<byte[]> ReadConfigAsync(Descriptor descriptor, CancellationToken cancellationToken) =>
        throw new NotSupportedException("a docker archive's config is read by its member name");

    private JsonElement Choose(JsonElement[] images)
    {
        if (images.Length == 0) throw Error("manifest.json lists no images");
        if (_reference.Index is int index)
        {
            if (index >= images.Length) throw Error($"the archive holds {images.Length} images; there is no @{index}");
            return images[index];
        }
        if (_reference.Repository is null)
        {
            if (images.Length == 1) return images[0];
            throw Error($"the archive holds {images.Length} images; choose one with :NAME:TAG or :@INDEX ({Tags(images)})");
        }
        string wanted = $"{_reference.Registry}/{_reference.Repository}:{_reference.Tag}";
        foreach (var image in images)
        {
            foreach (var tag in JsonRead.StringArray(image, "RepoTags", "manifest.json"))
            {
                try
                {
                    var (r, repo, t, _) = ImageReference.ParseName(tag, tag);
                    if ($"{r}/{repo}:{t ?? "latest"}" == wanted) return image;
                }
                catch (FormatException)
                {
                    // A tag that is not a valid name cannot be what was asked for.
                }
            }
        }
        throw Error($"no image in the archive is named {wanted} ({Tags(images)})");
    }

    private static string Tags(JsonElement[] images)
    {
        var tags = images.SelectMany(i => JsonRead.StringArray(i, "RepoTags", "manifest.json")).ToArray();
        return tags.Length == 0 ? "none is named" : "names: " + string.Join(", ", tags);
    }

    private async Task IndexMembersAsync(CancellationToken cancellationToken)
    {
        await using var file = new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous);
        Span<byte> magic = stackalloc byte[4];
        int got = file.ReadAtLeast(magic, 4, throwOnEndOfStream: false);
        if (LayerStream.Sniff(magic[..got]) != LayerCompression.None)
            throw new UnsupportedImageException("the archive is compressed; decompress it first (docker save writes a plain tar)", _path);
        file.Position = 0;
        try
        {
            await using var reader = new TarReader(file, leaveOpen: true);
            while (await reader.GetNextEntryAsync(copyData: false, cancellationToken).ConfigureAwait(false) is { } entry)
            {
                var member = new Member(Normal(entry.Name), entry.DataOffset, entry.Length, entry.EntryType,
                    string.IsNullOrEmpty(entry.LinkName) ? null : entry.LinkName);
                _members[member.Name] = member;
            }
        }
        catch (Exception e) when (e is InvalidDataException or FormatException)
        {
            throw new ImageFormatException($"not a readable tar archive: {e.Message}", _path, null, e);
        }
    }

    /// <summary>The regular-file member a name refers to, following symbolic and hard links inside the archive.</summary>
    private Member Resolve(string name, string referrer)
    {
        string current = Normal(name);
        for (int hop = 0; hop <= MaxLinkHops; hop++)
        {
            if (!_members.TryGetValue(current, out var m)) throw Error($"{referrer} names '{name}', which the archive does not hold");
            switch (m.Type)
            {
                case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                    return m;
                case TarEntryType.SymbolicLink when m.LinkName is not null:
                    // skopeo writes each legacy ID/layer.tar as a symbolic link to ../DIGEST.tar.
                    string dir = current.Contains('/') ? current[..current.LastIndexOf('/')] : "";
                    current = Normal(CombineInside(dir, m.LinkName));
                    break;
                case TarEntryType.HardLink when m.LinkName is not null:
                    current = Normal(m.LinkName);
                    break;
                default:
                    throw Error($"{referrer} names '{name}', which is not a file in the archive");
            }
        }
        throw Error($"{referrer} names '{name}', whose links go more than {MaxLinkHops} deep");
    }

    private static string CombineInside(string dir, string target)
    {
        if (target.StartsWith('/')) return target;
        var parts = new List<string>(dir.Split('/', StringSplitOptions.RemoveEmptyEntries));
        foreach (var p in target.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (p == "..") { if (parts.Count > 0) parts.RemoveAt(parts.Count - 1); }
            else if (p != ".") parts.Add(p);
        }
        return string.Join('/', parts);
    }

    private static string Normal(string name)
    {
        name = name.TrimStart('/');
        while (name.StartsWith("./", StringComparison.Ordinal)) name = name[2..];
        return name;
    }

    private static ContentDigest? DigestInName(string name)
    {
        // DIGEST.json (docker save ≤ 24, skopeo) or blobs/sha256/DIGEST (docker save ≥ 25).
        string file = name[(name.LastIndexOf('/') + 1)..];
        if (file.EndsWith(".json", StringComparison.Ordinal)) file = file[..^5];
        if (file.Length != 64) return null;
        try
        {
            return ContentDigest.Parse("sha256:" + file, name);
        }
        catch (ImageFormatException)
        {
            return null;
        }
    }

    private FileRangeStream OpenMember(Member member) =>
        new(File.OpenHandle(_path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.Asynchronous), member.Offset, member.Size);

    private async Task<byte[]> ReadMemberAsync(Member member, int limit, CancellationToken cancellationToken)
    {
        if (member.Size > limit) throw Error($"member {member.Name} is larger than {limit} bytes");
        await using var stream = OpenMember(member);
        var bytes = new byte[member.Size];
        await stream.ReadExactlyAsync(bytes, cancellationToken).ConfigureAwait(false);
        return bytes;
    }

    private async Task<LayerCompression> SniffAsync(Member member, CancellationToken cancellationToken)
    {
        await using var stream = OpenMember(member);
        var magic = new byte[4];
        int n = await stream.ReadAtLeastAsync(magic, 4, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        return LayerStream.Sniff(magic.AsSpan(0, n));
    }

    private async Task<ContentDigest> HashMemberAsync(Member member, CancellationToken cancellationToken)
    {
        await using var stream = OpenMember(member);
        return await stream.HashAsync(cancellationToken).ConfigureAwait(false);
    }

    private ImageFormatException Error(string message) => new(message, _path);
}
