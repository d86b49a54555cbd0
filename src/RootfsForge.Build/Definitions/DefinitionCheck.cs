namespace RootfsForge.Definitions;

/// <summary>One way a published manifest differs from what the definition would build now.</summary>
/// <param name="Field">name, kind, definitionSha256, source.type, source.reference, source.digest or rootfsforgeVersion.</param>
/// <param name="Expected">What the definition gives now.</param>
/// <param name="Published">What the published manifest records.</param>
public sealed record ManifestDrift(string Field, string Expected, string Published);

/// <summary>
/// Answers "does the published flist match the definition?" without building: the definition's hash (recipes resolved),
/// its source digest and the tool version, against the manifest a build stored in the <c>.fl</c>'s tags — the fields of
/// <see cref="BuildManifest.InputsKey"/>, the same that make <c>build</c> say "up to date".
/// </summary>
public static class DefinitionCheck
{
    /// <summary>
    /// The inputs part of the manifest a build of <paramref name="definition"/> would write now. The source digest is
    /// found without fetching the image: a pinned <c>sha256</c> as is, a <c>sha256sums</c> file fetched (small), a local
    /// path hashed; a bootstrap has none, and an OCI reference carries its digest in itself.
    /// </summary>
    public static async Task<BuildManifest> ExpectedAsync(ImageDefinition definition, string toolVersion, string? cacheDirectory,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(definition);
        string? digest;
        switch (definition.From)
        {
            case UrlSource url:
                using (var fetcher = new SourceFetcher(cacheDirectory))
                    digest = "sha256:" + await fetcher.ExpectedSha256Async(url, cancellationToken).ConfigureAwait(false);
                break;
            case PathSource path:
                if (!File.Exists(path.Path) && !Directory.Exists(path.Path))
                    throw new FileNotFoundException($"{definition.File}: from.path {path.Written} does not exist", path.Path);
                digest = "sha256:" + DefinitionDocument.HashPath(path.Path);
                break;
            default:
                digest = null;
                break;
        }
        return new BuildManifest
        {
            Name = definition.Name,
            Kind = definition.Kind == ImageKind.Vm ? "vm" : "container",
            DefinitionSha256 = DefinitionDocument.Sha256(definition),
            Source = new ManifestSource(definition.From.Type, definition.From.Reference, digest),
            RootfsForgeVersion = toolVersion,
        };
    }

    /// <summary>
    /// The differences in the inputs key's fields (and name and kind); empty when the published flist is what the
    /// definition builds. The tool version counts as its release (<see cref="BuildManifest.ReleaseOf"/>);
    /// <paramref name="compareVersion"/> false leaves it out (a flist built by another
    /// RootfsForge release from the same inputs).
    /// </summary>
    public static IReadOnlyList<ManifestDrift> Compare(BuildManifest expected, BuildManifest published, bool compareVersion = true)
    {
        ArgumentNullException.ThrowIfNull(expected);
        ArgumentNullException.ThrowIfNull(published);
        var drift = new List<ManifestDrift>();
        void Add(string field, string? e, string? p)
        {
            if (!string.Equals(e, p, StringComparison.Ordinal)) drift.Add(new ManifestDrift(field, e ?? "(none)", p ?? "(none)"));
        }
        Add("name", expected.Name, published.Name);
        Add("kind", expected.Kind, published.Kind);
        Add("definitionSha256", expected.DefinitionSha256, published.DefinitionSha256);
        Add("source.type", expected.Source.Type, published.Source.Type);
        Add("source.reference", expected.Source.Reference, published.Source.Reference);
        // An OCI source's digest is part of its reference (…@sha256:…); bootstraps have none to compare.
        if (expected.Source.Digest is not null) Add("source.digest", expected.Source.Digest, published.Source.Digest);
        // Like the inputs key: the release, not the commit it was built from.
        if (compareVersion) Add("rootfsforgeVersion", BuildManifest.ReleaseOf(expected.RootfsForgeVersion), BuildManifest.ReleaseOf(published.RootfsForgeVersion));
        return drift;
    }
}
