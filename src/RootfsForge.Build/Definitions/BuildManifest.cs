using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace RootfsForge.Definitions;

/// <summary>The source a build started from, as pinned.</summary>
/// <param name="Type">url, path, oci, mmdebstrap or debootstrap.</param>
/// <param name="Reference">The URL, path, image reference or suite/mirror.</param>
/// <param name="Digest">The digest of what was used (<c>sha256:</c> of a downloaded image, the manifest digest of an OCI image; null for a bootstrap).</param>
public sealed record ManifestSource(string Type, string Reference, string? Digest);

/// <summary>An installed package found in the built tree (dpkg, rpm or apk database).</summary>
/// <param name="Name">Package name.</param>
/// <param name="Version">Version string as the package manager writes it.</param>
/// <param name="Architecture">Architecture, when the database records one.</param>
public sealed record ManifestPackage(string Name, string Version, string? Architecture);

/// <summary>One output a build wrote.</summary>
/// <param name="Kind">tar, tar.gz, tar.zst, fl, directory or hub.</param>
/// <param name="Path">The file, directory or hub:NAME.</param>
/// <param name="Sha256">The output file's SHA-256 (hex), when it is one file.</param>
/// <param name="Bytes">The output file's size.</param>
/// <param name="Blocks">For a .fl: block rows.</param>
public sealed record ManifestOutput(string Kind, string Path, string? Sha256, long? Bytes, long? Blocks);

/// <summary>
/// What a build made, from what: written as <c>NAME.build.json</c> next to the outputs and into a <c>.fl</c>'s tags, so
/// a rebuild can tell it is up to date and a published flist can be checked against its definition. Nothing in it
/// depends on when or where the build ran, so equal builds give equal manifests.
/// </summary>
public sealed record BuildManifest
{
    /// <summary>The schema id of this document.</summary>
    public const string SchemaId = "rootfsforge.build/v1";

    /// <summary>Always <see cref="SchemaId"/>.</summary>
    public string Schema { get; init; } = SchemaId;

    /// <summary>The definition's name.</summary>
    public required string Name { get; init; }

    /// <summary>vm or container.</summary>
    public required string Kind { get; init; }

    /// <summary>SHA-256 (hex) of the resolved definition (recipes included), see <c>build --print</c>.</summary>
    public required string DefinitionSha256 { get; init; }

    /// <summary>The source.</summary>
    public required ManifestSource Source { get; init; }

    /// <summary>The RootfsForge version that built it, in full (with the commit after <c>+</c>, as <c>--version</c> prints it).</summary>
    public required string RootfsForgeVersion { get; init; }

    /// <summary>The kernel release in /boot (VM builds).</summary>
    public string? Kernel { get; init; }

    /// <summary>SOURCE_DATE_EPOCH the outputs were clamped to.</summary>
    public long? SourceDateEpoch { get; init; }

    /// <summary>Installed packages, sorted by name.</summary>
    public IReadOnlyList<ManifestPackage> Packages { get; init; } = [];

    /// <summary>The outputs written.</summary>
    public IReadOnlyList<ManifestOutput> Outputs { get; init; } = [];

    /// <summary>
    /// The inputs that decide whether a rebuild is needed: the definition hash, the source digest and the tool's release
    /// version (<see cref="ReleaseOf"/>: without the commit, so a new commit of the same release does not rebuild every
    /// image). Equal keys mean the build is up to date.
    /// </summary>
    public string InputsKey => $"{DefinitionSha256}|{Source.Type}|{Source.Reference}|{Source.Digest}|{ReleaseOf(RootfsForgeVersion)}";

    /// <summary>
    /// The release part of a version: <c>0.2.0+3f2a…</c> (SemVer build metadata, the commit) gives <c>0.2.0</c>; a
    /// pre-release such as <c>0.3.0-beta.1</c> is kept.
    /// </summary>
    public static string ReleaseOf(string version)
    {
        ArgumentNullException.ThrowIfNull(version);
        int plus = version.IndexOf('+', StringComparison.Ordinal);
        return plus < 0 ? version : version[..plus];
    }

    /// <summary>The document as UTF-8 JSON: indented for the file, or one line for a <c>.fl</c> tag.</summary>
    public byte[] ToJson(bool indented = true) => JsonSerializer.SerializeToUtf8Bytes(this, indented ? BuildManifestJson.Indented.BuildManifest : BuildManifestJson.Default.BuildManifest);

    /// <summary>Reads a manifest; a document of another schema or malformed JSON is an <see cref="InvalidDataException"/>.</summary>
    public static BuildManifest Parse(ReadOnlySpan<byte> json)
    {
        BuildManifest? m;
        try
        {
            m = JsonSerializer.Deserialize(json, BuildManifestJson.Default.BuildManifest);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"not a build manifest: {e.Message}", e);
        }
        if (m is null || m.Schema != SchemaId) throw new InvalidDataException($"not a {SchemaId} manifest");
        return m;
    }

    /// <summary>SHA-256 (hex) of a file.</summary>
    public static string Sha256Of(string path)
    {
        using var f = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(f));
    }
}

/// <summary>Source-generated (trim- and AOT-safe) JSON for <see cref="BuildManifest"/>: camelCase, nulls left out.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(BuildManifest))]
internal sealed partial class BuildManifestJson : JsonSerializerContext
{
    private static BuildManifestJson? _indented;

    /// <summary>The same contract, indented for the file on disk.</summary>
    public static BuildManifestJson Indented => _indented ??= new(new JsonSerializerOptions(Default.Options) { WriteIndented = true });
}
