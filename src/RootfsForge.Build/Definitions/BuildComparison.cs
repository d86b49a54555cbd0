using System.Runtime.Versioning;
using RootfsForge.Diff;
using RootfsForge.Sources.Flist;

namespace RootfsForge.Definitions;

/// <summary>
/// <c>build --compare PREVIOUS.build.json</c>: what changed from a previous build's <c>.fl</c> to this build's — the
/// differing paths and the bytes of blocks the new flist adds (what publishing it uploads). Both builds are found through
/// their manifests' <c>fl</c> output. The previous <c>.fl</c> is copied aside before the build starts (it is small: the
/// blocks stay in the stores), so comparing against the manifest in the output folder being rebuilt works too.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class BuildComparison : IDisposable
{
    private readonly string _temp;

    private BuildComparison(string manifestPath, BuildManifest previous, string flist, string temp)
    {
        ManifestPath = manifestPath;
        Previous = previous;
        PreviousFlist = flist;
        _temp = temp;
    }

    /// <summary>The previous manifest's path.</summary>
    public string ManifestPath { get; }

    /// <summary>The previous manifest.</summary>
    public BuildManifest Previous { get; }

    /// <summary>The copy of the previous build's <c>.fl</c>.</summary>
    public string PreviousFlist { get; }

    /// <summary>
    /// Reads <paramref name="previousManifestPath"/> and copies aside the <c>.fl</c> it names (resolved beside it).
    /// </summary>
    /// <exception cref="FileNotFoundException">The manifest or its <c>.fl</c> is missing.</exception>
    /// <exception cref="InvalidDataException">The file is not a build manifest, or the build wrote no <c>.fl</c>.</exception>
    public static BuildComparison Prepare(string previousManifestPath)
    {
        ArgumentNullException.ThrowIfNull(previousManifestPath);
        var path = Path.GetFullPath(previousManifestPath);
        if (!File.Exists(path)) throw new FileNotFoundException($"--compare {previousManifestPath}: no such file", path);
        var previous = BuildManifest.Parse(File.ReadAllBytes(path));
        var flist = FlistOf(previous, path)
            ?? throw new InvalidDataException($"--compare {previousManifestPath}: that build wrote no .fl output to compare with");
        var temp = Directory.CreateTempSubdirectory("rootfsforge-compare-").FullName;
        try
        {
            var copy = Path.Combine(temp, "previous.fl");
            File.Copy(flist, copy);
            return new BuildComparison(path, previous, copy, temp);
        }
        catch
        {
            Directory.Delete(temp, recursive: true);
            throw;
        }
    }

    /// <summary>
    /// Compares the previous <c>.fl</c> with the one the build whose manifest is <paramref name="currentManifestPath"/>
    /// wrote: paths added, removed and changed, and the block delta (new blocks and their plaintext bytes).
    /// </summary>
    /// <exception cref="InvalidDataException">The current build wrote no <c>.fl</c>.</exception>
    public async Task<TreeDiffResult> CompareAsync(string currentManifestPath, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(currentManifestPath);
        var path = Path.GetFullPath(currentManifestPath);
        var current = BuildManifest.Parse(await File.ReadAllBytesAsync(path, cancellationToken).ConfigureAwait(false));
        var flist = FlistOf(current, path) ?? throw new InvalidDataException($"{path}: this build wrote no .fl output to compare");
        await using var a = FlistSource.Open(PreviousFlist);
        await using var b = FlistSource.Open(flist);
        return await TreeDiff.CompareAsync(a, b, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The <c>.fl</c> output <paramref name="manifest"/> names, beside the manifest at <paramref name="manifestPath"/>; null when it has none.</summary>
    private static string? FlistOf(BuildManifest manifest, string manifestPath)
    {
        var output = manifest.Outputs.FirstOrDefault(o => o.Kind == "fl");
        if (output is null) return null;
        var fl = Path.Combine(Path.GetDirectoryName(manifestPath)!, output.Path);
        return File.Exists(fl) ? fl : throw new FileNotFoundException($"{manifestPath}: its .fl output {fl} is gone", fl);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        try
        {
            Directory.Delete(_temp, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }
}
