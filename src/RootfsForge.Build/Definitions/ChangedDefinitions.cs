using RootfsForge.Processes;
using RootfsForge.Steps;

namespace RootfsForge.Definitions;

/// <summary>A definition CI should build: its name and its path relative to the repository.</summary>
/// <param name="Name">The image name (the file name's stem when the definition cannot be read: the build then fails loudly).</param>
/// <param name="Definition">images/NAME.yaml, relative to the repository root.</param>
public sealed record ChangedDefinition(string Name, string Definition);

/// <summary>
/// Which definitions in a git repository's <c>images/</c> a change since a commit affects (<c>build --list-changed</c>):
/// a definition is affected when its own file, a recipe it includes (at any depth), a host file or script it copies,
/// its local source, or — for a vm — anything under <c>kernels/</c> changed. Without a usable base commit (none, the
/// all-zero id GitHub sends for a new branch, or one the clone does not have) every definition is listed.
/// </summary>
public static class ChangedDefinitions
{
    /// <summary>The folder of definitions below the repository root.</summary>
    public const string ImagesFolder = "images";

    /// <summary>The folder of kernel definitions below the repository root.</summary>
    public const string KernelsFolder = "kernels";

    /// <summary>The affected definitions of the repository holding <paramref name="directory"/>, sorted by path.</summary>
    /// <exception cref="InvalidOperationException">git is missing or <paramref name="directory"/> is not in a work tree.</exception>
    public static async Task<IReadOnlyList<ChangedDefinition>> ListAsync(string directory, string? since, CancellationToken cancellationToken = default)
    {
        string root = (await GitAsync(directory, ["rev-parse", "--show-toplevel"], cancellationToken).ConfigureAwait(false)).Trim();
        string images = Path.Combine(root, ImagesFolder);
        if (!Directory.Exists(images)) return [];
        HashSet<string>? changed = null;
        if (!string.IsNullOrEmpty(since) && since.Trim('0').Length > 0
            && await IsCommitAsync(root, since, cancellationToken).ConfigureAwait(false))
        {
            // Committed changes since the base plus what the work tree changes on top (a local run before committing).
            var names = await GitAsync(root, ["diff", "--name-only", "-z", since, "--"], cancellationToken).ConfigureAwait(false);
            changed = names.Split('\0', StringSplitOptions.RemoveEmptyEntries).Select(n => Path.GetFullPath(Path.Combine(root, n)))
                .ToHashSet(StringComparer.Ordinal);
            var untracked = await GitAsync(root, ["ls-files", "--others", "--exclude-standard", "-z"], cancellationToken).ConfigureAwait(false);
            foreach (var n in untracked.Split('\0', StringSplitOptions.RemoveEmptyEntries)) changed.Add(Path.GetFullPath(Path.Combine(root, n)));
        }
        string kernels = Path.Combine(root, KernelsFolder) + "/";
        bool kernelsChanged = changed is not null && changed.Any(c => c.StartsWith(kernels, StringComparison.Ordinal));
        var result = new List<ChangedDefinition>();
        foreach (var file in Directory.EnumerateFiles(images).Where(f => f.EndsWith(".yaml", StringComparison.Ordinal) || f.EndsWith(".yml", StringComparison.Ordinal))
                     .OrderBy(f => f, StringComparer.Ordinal))
        {
            string rel = Path.GetRelativePath(root, file).Replace('\\', '/');
            ImageDefinition d;
            try
            {
                d = DefinitionLoader.Load(file);
            }
            catch (Exception e) when (e is DefinitionFormatException or FileNotFoundException)
            {
                // A broken definition is listed whenever anything changed, so its build reports the error.
                if (changed is null || changed.Count > 0) result.Add(new ChangedDefinition(Path.GetFileNameWithoutExtension(file), rel));
                continue;
            }
            if (changed is null || Inputs(d).Any(changed.Contains) || (kernelsChanged && d.Kind == ImageKind.Vm))
                result.Add(new ChangedDefinition(d.Name, rel));
        }
        return result;
    }

    /// <summary>Every host file the definition reads (folders: the files below them are matched by prefix).</summary>
    private static IEnumerable<string> Inputs(ImageDefinition d)
    {
        yield return Path.GetFullPath(d.File);
        foreach (var r in d.Recipes) yield return Path.GetFullPath(r);
        var hostPaths = d.Files.Select(f => f.Source).Concat(d.Run.Select(r => r.Script))
            .Append((d.From as PathSource)?.Path).OfType<string>().Select(p => Path.GetFullPath(p));
        foreach (var p in hostPaths)
        {
            if (!Directory.Exists(p))
            {
                yield return p;
                continue;
            }
            foreach (var f in Directory.EnumerateFiles(p, "*", SearchOption.AllDirectories)) yield return Path.GetFullPath(f);
        }
    }

    private static async Task<bool> IsCommitAsync(string root, string rev, CancellationToken ct)
    {
        var r = await ProcessRunner.RunAsync(new ProcessSpec(Git(), ["rev-parse", "--verify", "--quiet", rev + "^{commit}"])
        {
            WorkingDirectory = root, ThrowOnFailure = false,
        }, ct).ConfigureAwait(false);
        return r.ExitCode == 0;
    }

    private static async Task<string> GitAsync(string directory, IReadOnlyList<string> args, CancellationToken ct)
    {
        var r = await ProcessRunner.RunAsync(new ProcessSpec(Git(), args) { WorkingDirectory = directory, ThrowOnFailure = false }, ct)
            .ConfigureAwait(false);
        if (r.ExitCode != 0)
            throw new InvalidOperationException($"git {string.Join(' ', args)} in {directory} failed: {r.StandardError.Trim()}");
        return r.StandardOutput;
    }

    private static string Git() => ProcessRunner.TryFindProgram("git")
        ?? throw new InvalidOperationException("build --list-changed needs git on PATH");
}
