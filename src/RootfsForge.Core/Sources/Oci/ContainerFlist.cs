using RootfsForge.Flist;
using RootfsForge.Tree;

namespace RootfsForge.Sources.Oci;

/// <summary>
/// What turns an OCI image into a container flist's tree (docs/zos-vm.md §9): the merged layers plus
/// <c>/.startup.toml</c> from the image config, the <c>.fl</c> tags that say where it came from, and the name the 0-hub
/// would give it.
/// </summary>
public static class ContainerFlist
{
    /// <summary>
    /// The tree to write: <paramref name="layers"/> with <c>/.startup.toml</c> added (replacing one the image has) unless
    /// <paramref name="startup"/> is false. The file gets mode 0644, owner 0:0 and <paramref name="time"/> as its times
    /// (use the image's creation time or SOURCE_DATE_EPOCH for reproducible output).
    /// </summary>
    public static ITreeSource Tree(OciTreeSource layers, bool startup = true, UnixTime time = default)
    {
        ArgumentNullException.ThrowIfNull(layers);
        if (!startup) return layers;
        var config = layers.Image.Config;
        var bytes = StartupToml.Render(config.Entrypoint, config.Cmd, config.Env, config.WorkingDir);
        var entry = new TreeEntry
        {
            Path = StartupToml.Path,
            Type = EntryType.RegularFile,
            Permissions = 0x1A4,
            Size = bytes.Length,
            ModificationTime = time,
            AccessTime = time,
            ChangeTime = time,
            OpenContent = () => FileContent.FromBytes(bytes),
        };
        return new TreeOverlay(layers, [entry]);
    }

    /// <summary>
    /// Tags for the <c>.fl</c>: <c>source</c> (the reference), <c>digest</c> (the manifest, or the config for an archive),
    /// <c>platform</c>, and each image label as <c>label.NAME</c>.
    /// </summary>
    public static IReadOnlyDictionary<string, string> Tags(OciImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        var tags = new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["source"] = image.Reference.ToString(),
            ["digest"] = image.ManifestDigest ?? image.ConfigDigest,
            ["platform"] = image.Platform.ToString(),
        };
        foreach (var (k, v) in image.Config.Labels) tags["label." + k] = v;
        return tags;
    }

    /// <summary>
    /// The flist name the 0-hub's converter gives an image (docs/flist-format.md §9): the image name as written, with
    /// <c>:</c> and <c>/</c> turned into <c>-</c> and the tag (<c>latest</c> when none) appended: <c>redis:7</c> →
    /// <c>redis-7</c>, <c>team/app</c> → <c>team-app-latest</c>. Docker Hub's implicit <c>library/</c> and registry are
    /// left out, as the hub (which only pulls from Docker Hub) never sees them; other registries' hosts are kept out too
    /// (a port would make an odd name); a digest reference ends in <c>-sha256-</c> and 12 hex digits; local layouts and
    /// archives are named after their folder or file.
    /// </summary>
    public static string Name(ImageReference reference)
    {
        ArgumentNullException.ThrowIfNull(reference);
        string repo, tag;
        switch (reference.Transport)
        {
            case ImageTransport.Registry:
                repo = reference.Repository!;
                if (reference.Registry == ImageReference.DockerHub && repo.StartsWith("library/", StringComparison.Ordinal))
                    repo = repo["library/".Length..];
                tag = reference.Digest is { } d && reference.Tag is null ? "sha256-" + d["sha256:".Length..][..12] : reference.Tag ?? "latest";
                break;
            default:
                // The folder's or file's own name, so "oci:." and "oci:dir/" are named after the folder (a relative path's
                // last component may be "." or empty).
                repo = System.IO.Path.GetFileName(System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(reference.Path!)));
                if (repo.Length == 0) repo = "image"; // the file system root
                foreach (var ext in new[] { ".tar", ".tar.gz" })
                    if (repo.EndsWith(ext, StringComparison.OrdinalIgnoreCase)) repo = repo[..^ext.Length];
                tag = reference.Tag ?? "latest";
                break;
        }
        return (repo + "-" + tag).Replace('/', '-').Replace(':', '-');
    }
}
