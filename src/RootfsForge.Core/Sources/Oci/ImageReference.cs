using System.Globalization;
using System.Text.RegularExpressions;

namespace RootfsForge.Sources.Oci;

/// <summary>
/// Names a container image: <c>docker://[REGISTRY/]REPO[:TAG|@sha256:DIGEST]</c>, <c>oci:DIR[:TAG]</c> or
/// <c>docker-archive:FILE.tar[:NAME[:TAG]|:@INDEX]</c>.
/// </summary>
/// <remarks>
/// <para>Registry names are normalized exactly as <c>docker pull</c> does (distribution's <c>reference</c> package):
/// the first path component is a registry when it contains <c>.</c> or <c>:</c>, is <c>localhost</c>, or has an
/// upper-case letter; otherwise the registry is <c>docker.io</c>. <c>index.docker.io</c> is the same as
/// <c>docker.io</c>; on <c>docker.io</c> a one-component repository gets the <c>library/</c> prefix; the tag is
/// <c>latest</c> when neither tag nor digest is given. A reference with both a tag and a digest is pulled by its digest.
/// Only <c>sha256</c> digests are accepted.</para>
/// <para>As in skopeo, the path of <c>oci:</c> and <c>docker-archive:</c> ends at its first <c>:</c>.</para>
/// </remarks>
public sealed partial class ImageReference : IEquatable<ImageReference>
{
    /// <summary>Docker Hub's registry name, as references spell it.</summary>
    public const string DockerHub = "docker.io";

    /// <summary>The host Docker Hub's registry API is served from.</summary>
    public const string DockerHubHost = "registry-1.docker.io";

    private const string RegistryPrefix = "docker://";
    private const string OciPrefix = "oci:";
    private const string ArchivePrefix = "docker-archive:";
    private const int MaxNameLength = 255;

    private ImageReference(ImageTransport transport, string? path, string? registry, string? repository, string? tag,
        string? digest, int? index)
    {
        Transport = transport;
        Path = path;
        Registry = registry;
        Repository = repository;
        Tag = tag;
        Digest = digest;
        Index = index;
    }

    /// <summary>Where the image is.</summary>
    public ImageTransport Transport { get; }

    /// <summary>The directory (<c>oci:</c>) or archive file (<c>docker-archive:</c>) as written; <c>null</c> for a registry.</summary>
    public string? Path { get; }

    /// <summary>
    /// The registry's name (<c>docker.io</c>, <c>quay.io</c>, <c>127.0.0.1:5000</c>); for <c>docker-archive:</c> the
    /// registry part of the image name chosen in the archive, if one was given.
    /// </summary>
    public string? Registry { get; }

    /// <summary>The host (and port) the registry API is reached at: <see cref="DockerHubHost"/> for Docker Hub, else <see cref="Registry"/>.</summary>
    public string? RegistryHost => Registry == DockerHub ? DockerHubHost : Registry;

    /// <summary>The repository path in the registry, e.g. <c>library/busybox</c>.</summary>
    public string? Repository { get; }

    /// <summary>The tag: for <c>docker://</c> <c>latest</c> unless given; for <c>oci:</c> the <c>org.opencontainers.image.ref.name</c> to pick.</summary>
    public string? Tag { get; }

    /// <summary>The manifest digest (<c>sha256:</c> + 64 hex digits) when the reference names one.</summary>
    public string? Digest { get; }

    /// <summary>For <c>docker-archive:FILE:@N</c>, the index of the image in the archive's <c>manifest.json</c>.</summary>
    public int? Index { get; }

    /// <summary>
    /// True when <paramref name="text"/> is meant as an image reference rather than a file name: it starts with
    /// <c>docker:</c>, <c>oci:</c> or <c>docker-archive:</c> (as skopeo's transports do). It may still be malformed:
    /// <see cref="Parse"/> says why.
    /// </summary>
    public static bool IsReference(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return text.StartsWith("docker:", StringComparison.Ordinal) || text.StartsWith(OciPrefix, StringComparison.Ordinal)
            || text.StartsWith(ArchivePrefix, StringComparison.Ordinal);
    }

    /// <summary>Parses a reference. Throws <see cref="FormatException"/> naming what is wrong.</summary>
    public static ImageReference Parse(string reference)
    {
        ArgumentNullException.ThrowIfNull(reference);
        if (reference.StartsWith(RegistryPrefix, StringComparison.Ordinal))
        {
            var (registry, repository, tag, digest) = ParseName(reference, reference[RegistryPrefix.Length..]);
            return new ImageReference(ImageTransport.Registry, null, registry, repository, tag ?? (digest is null ? "latest" : null), digest, null);
        }
        if (reference.StartsWith(OciPrefix, StringComparison.Ordinal))
        {
            var (path, tag) = SplitPath(reference, reference[OciPrefix.Length..]);
            if (tag is not null && !OciRefName().IsMatch(tag))
                throw Invalid(reference, $"'{tag}' is not a valid image name in an OCI layout");
            return new ImageReference(ImageTransport.OciLayout, path, null, null, tag, null, null);
        }
        if (reference.StartsWith(ArchivePrefix, StringComparison.Ordinal))
        {
            var (path, rest) = SplitPath(reference, reference[ArchivePrefix.Length..]);
            if (rest is null)
                return new ImageReference(ImageTransport.DockerArchive, path, null, null, null, null, null);
            if (rest.StartsWith('@'))
            {
                if (!int.TryParse(rest.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out int index))
                    throw Invalid(reference, $"'{rest}' is not an image index (expected @0, @1, …)");
                return new ImageReference(ImageTransport.DockerArchive, path, null, null, null, null, index);
            }
            var (registry, repository, tag, digest) = ParseName(reference, rest);
            if (digest is not null)
                throw Invalid(reference, "an image in a docker archive is chosen by name and tag, not by digest");
            return new ImageReference(ImageTransport.DockerArchive, path, registry, repository, tag ?? "latest", null, null);
        }
        if (reference.StartsWith("docker:", StringComparison.Ordinal))
            throw Invalid(reference, "a registry reference starts with docker:// (two slashes)");
        throw Invalid(reference, "expected docker://[REGISTRY/]REPO[:TAG|@sha256:DIGEST], oci:DIR[:TAG] or docker-archive:FILE");
    }

    /// <summary>The canonical string form, which <see cref="Parse"/> reads back to an equal reference.</summary>
    public override string ToString() => Transport switch
    {
        ImageTransport.Registry => RegistryPrefix + NameString(),
        ImageTransport.OciLayout => OciPrefix + Path + (Tag is null ? "" : ":" + Tag),
        _ => ArchivePrefix + Path + (Index is int i ? ":@" + i.ToString(CultureInfo.InvariantCulture)
            : Repository is null ? "" : ":" + NameString()),
    };

    /// <inheritdoc/>
    public bool Equals(ImageReference? other) => other is not null && ToString() == other.ToString();

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as ImageReference);

    /// <inheritdoc/>
    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(ToString());

    /// <summary><c>REGISTRY/REPO[:TAG][@DIGEST]</c>.</summary>
    internal string NameString() =>
        $"{Registry}/{Repository}" + (Tag is null ? "" : ":" + Tag) + (Digest is null ? "" : "@" + Digest);

    /// <summary>Parses <c>[REGISTRY/]REPO[:TAG][@DIGEST]</c> with Docker's normalization.</summary>
    internal static (string Registry, string Repository, string? Tag, string? Digest) ParseName(string reference, string name)
    {
        if (name.Length == 0) throw Invalid(reference, "the image name is empty");
        string? digest = null;
        int at = name.IndexOf('@');
        if (at >= 0)
        {
            // user:password@host/... is not a reference (a digest never holds '/'): say so without echoing the secret.
            if (name.IndexOf('/', at) > at)
                throw new FormatException("invalid image reference: a registry must not carry credentials (USER:PASSWORD@); use a credentials file");
            digest = name[(at + 1)..];
            name = name[..at];
            if (digest.StartsWith("sha256:", StringComparison.Ordinal))
            {
                if (!Sha256Hex().IsMatch(digest.AsSpan(7)))
                    throw Invalid(reference, "a sha256 digest is 'sha256:' followed by 64 lower-case hex digits");
            }
            else if (AnyDigest().IsMatch(digest))
                throw Invalid(reference, $"digest algorithm '{digest[..digest.IndexOf(':')]}' is not supported (only sha256)");
            else
                throw Invalid(reference, $"'{digest}' is not a digest (expected sha256:<64 hex digits>)");
        }

        string? tag = null;
        int colon = name.LastIndexOf(':');
        if (colon > name.LastIndexOf('/'))
        {
            tag = name[(colon + 1)..];
            name = name[..colon];
            if (!TagPattern().IsMatch(tag))
                throw Invalid(reference, $"'{tag}' is not a valid tag (letters, digits, '_', '.', '-'; at most 128; not starting with '.' or '-')");
        }

        // splitDockerDomain: a first component with '.', ':', upper case, or equal to localhost is a registry.
        string registry, repository;
        int firstSlash = name.IndexOf('/');
        if (firstSlash < 0)
        {
            registry = DockerHub;
            repository = name;
        }
        else
        {
            string first = name[..firstSlash];
            if (first.Contains('.') || first.Contains(':') || first == "localhost" || first != first.ToLowerInvariant())
            {
                registry = first;
                repository = name[(firstSlash + 1)..];
                if (!DomainPattern().IsMatch(registry))
                    throw Invalid(reference, $"'{registry}' is not a valid registry host[:port]");
            }
            else
            {
                registry = DockerHub;
                repository = name;
            }
        }
        if (registry == "index.docker.io") registry = DockerHub;
        if (repository.Length == 0) throw Invalid(reference, "the repository name is empty");
        if (repository != repository.ToLowerInvariant())
            throw Invalid(reference, $"repository name '{repository}' must be lower case");
        if (!RepositoryPattern().IsMatch(repository))
            throw Invalid(reference, $"'{repository}' is not a valid repository name (lower-case components of letters and digits separated by '.', '_', '__' or '-', joined by '/')");
        if (registry == DockerHub && !repository.Contains('/')) repository = "library/" + repository;
        if (registry.Length + 1 + repository.Length > MaxNameLength)
            throw Invalid(reference, $"the image name is longer than {MaxNameLength} characters");
        return (registry, repository, tag, digest);
    }

    private static (string Path, string? Remainder) SplitPath(string reference, string text)
    {
        int colon = text.IndexOf(':');
        string path = colon < 0 ? text : text[..colon];
        string? rest = colon < 0 ? null : text[(colon + 1)..];
        if (path.Length == 0) throw Invalid(reference, "the path is empty");
        if (rest is { Length: 0 }) throw Invalid(reference, "nothing follows the ':' after the path");
        return (path, rest);
    }

    private static FormatException Invalid(string reference, string why) =>
        new($"invalid image reference '{reference}': {why}");

    // distribution/reference grammar (reference.go / regexp.go).
    [GeneratedRegex(@"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")]
    private static partial Regex RepositoryPattern();

    [GeneratedRegex(@"^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$")]
    private static partial Regex DomainPattern();

    [GeneratedRegex(@"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]
    private static partial Regex TagPattern();

    [GeneratedRegex(@"^[a-f0-9]{64}$")]
    private static partial Regex Sha256Hex();

    [GeneratedRegex(@"^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[A-Za-z0-9=_-]+$")]
    private static partial Regex AnyDigest();

    // image-spec annotations.md, org.opencontainers.image.ref.name: components of alphanumerics joined by
    // separators [-._:@+] or "--", separated by '/'.
    [GeneratedRegex(@"^[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*$")]
    private static partial Regex OciRefName();
}
