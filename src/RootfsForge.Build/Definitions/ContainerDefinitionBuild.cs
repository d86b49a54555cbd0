using System.Runtime.Versioning;
using System.Text;
using RootfsForge.Flist;
using RootfsForge.Sinks.Directories;
using RootfsForge.Sources.Oci;
using RootfsForge.Steps;
using RootfsForge.Tree;
using RootfsForge.Vm;

namespace RootfsForge.Definitions;

/// <summary>
/// <c>rootfsforge build</c> of a <c>kind: container</c> definition: the OCI image of <c>from.image</c>
/// (<c>docker://…@sha256:…</c>, <c>oci:DIR[:TAG]</c>, <c>docker-archive:FILE</c>) merged into a staging root as
/// <c>rootfsforge container</c> merges it, then the definition's steps through <see cref="VmBuild"/>'s container
/// pipeline (packages and commands in the same chroot session as a vm build; no kernel, no ZOS VM preparation), then
/// <c>/.startup.toml</c> from the image config with the definition's entrypoint, env and workdir applied as a
/// Dockerfile's ENTRYPOINT, ENV and WORKDIR would, then the container lint, the outputs and <c>NAME.build.json</c>.
/// The steps are those <see cref="DockerfileRenderer"/> writes, in its order and with its commands, so the Dockerfile
/// built by buildah gives the same tree (README "Definitions", docs/container-equivalence.md).
/// </summary>
[SupportedOSPlatform("linux")]
internal static class ContainerDefinitionBuild
{
    /// <summary>Builds <paramref name="definition"/> (a container) or finds it up to date.</summary>
    public static async Task<DefinitionBuildResult> RunAsync(ImageDefinition definition, DefinitionBuildOptions options, CancellationToken ct)
    {
        var progress = options.Progress ?? (_ => { });
        var outDir = Path.GetFullPath(options.OutputDirectory);
        var manifestPath = DefinitionBuild.ManifestPath(definition, outDir);
        if (definition.From is not OciSource source)
            throw new NotSupportedException($"{definition.File}: a container is built from an OCI image (from.image), not from.{definition.From.Type}");
        var reference = Resolve(source.Image, Path.GetDirectoryName(definition.File)!);
        var imageOptions = new OciImageOptions
        {
            CacheDirectory = options.CacheDirectory is { } c ? Path.Combine(Path.GetFullPath(c), "blobs") : null,
            InsecureRegistries = options.InsecureRegistries,
        };

        progress($"==> source (oci {reference})");
        // A registry reference is pinned by digest (the loader insists): the up-to-date check needs no network. A layout
        // or archive is opened to read its manifest digest (local and cheap).
        OciImage? image = reference.Transport == ImageTransport.Registry ? null
            : await OciImage.OpenAsync(reference, imageOptions, ct).ConfigureAwait(false);
        try
        {
            string digest = reference.Digest ?? image!.ManifestDigest ?? image!.ConfigDigest;
            var key = new BuildManifest
            {
                Name = definition.Name,
                Kind = "container",
                DefinitionSha256 = DefinitionDocument.Sha256(definition),
                Source = new ManifestSource(source.Type, source.Reference, digest),
                RootfsForgeVersion = options.ToolVersion,
            };
            if (!options.Force && DefinitionBuild.UpToDate(manifestPath, key, outDir) is { } previous)
            {
                progress($"{definition.Name}: up to date ({manifestPath})");
                return new DefinitionBuildResult(true, previous, manifestPath);
            }
            image ??= await OciImage.OpenAsync(reference, imageOptions, ct).ConfigureAwait(false);
            return await BuildAsync(definition, options, image, key, manifestPath, outDir, progress, ct).ConfigureAwait(false);
        }
        finally
        {
            if (image is not null) await image.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static async Task<DefinitionBuildResult> BuildAsync(ImageDefinition definition, DefinitionBuildOptions options, OciImage image,
        BuildManifest key, string manifestPath, string outDir, Action<string> progress, CancellationToken ct)
    {
        Directory.CreateDirectory(outDir);
        var temp = Directory.CreateTempSubdirectory("rootfsforge-build-");
        try
        {
            long? epoch = definition.SourceDateEpoch ?? DefinitionBuild.EnvironmentEpoch();
            IReadOnlyList<ManifestPackage> packages = [];
            var outputs = new List<ManifestOutput>();
            var vm = new VmBuildOptions
            {
                Install = definition.Install,
                Remove = definition.Remove,
                Progress = progress,
                CommandOutput = options.CommandOutput,
                SourceDateEpoch = root =>
                {
                    epoch ??= DefinitionBuild.NewestModification(root);
                    progress($"    SOURCE_DATE_EPOCH={epoch}");
                    return epoch;
                },
            };
            await VmBuild.RunPipelineAsync(
                async (root, token) =>
                {
                    await image.DownloadAsync(token).ConfigureAwait(false);
                    await using var layers = await OciTreeSource.OpenAsync(image, null, token).ConfigureAwait(false);
                    await using var sink = new DirectorySink(root, new DirectorySinkOptions { AllowNonEmptyTarget = true });
                    await TreeCopy.RunAsync(layers, sink, null, token).ConfigureAwait(false);
                    foreach (var w in layers.Warnings) progress("warning: " + w);
                },
                async (root, token) =>
                {
                    packages = InstalledPackages.Read(root);
                    await DefinitionBuild.WriteOutputsAsync(definition, options, key with { SourceDateEpoch = epoch, Packages = packages }, root, outDir,
                        new UnixTime(epoch!.Value, 0), outputs, progress, token).ConfigureAwait(false);
                },
                vm, Steps(definition, image.Config, temp.FullName), ct).ConfigureAwait(false);

            var manifest = key with { SourceDateEpoch = epoch, Packages = packages, Outputs = outputs };
            var tmpManifest = manifestPath + ".tmp";
            await File.WriteAllBytesAsync(tmpManifest, manifest.ToJson(), ct).ConfigureAwait(false);
            File.Move(tmpManifest, manifestPath, overwrite: true);
            progress($"manifest: {manifestPath}");
            return new DefinitionBuildResult(false, manifest, manifestPath);
        }
        finally
        {
            temp.Delete(recursive: true);
        }
    }

    /// <summary>
    /// The container steps in the order and with the commands of <see cref="DockerfileRenderer"/> (after the package
    /// steps the pipeline runs first): apt's lists emptied after an install, files, commands and scripts, users, ssh
    /// keys, zinit services, cleanup, and <c>/.startup.toml</c> last. The workdir is not created (buildah's WORKDIR does not
    /// create it either): files or commands make it when the image lacks it.
    /// </summary>
    internal static List<TreeStep> Steps(ImageDefinition d, ImageConfig config, string temp)
    {
        var steps = new List<TreeStep>();
        void Copy(CopySpec copy)
        {
            steps.Add(MissingParents(copy));
            steps.Add(TreeStep.Of(copy));
        }
        int n = 0;
        string Inline(string content)
        {
            var f = Path.Combine(temp, $"inline-{n++}");
            File.WriteAllText(f, content, new UTF8Encoding(false));
            return f;
        }
        if (d.Install.Count > 0) steps.Add(TreeStep.Of(DockerfileRenderer.AptListsCleanup));
        foreach (var f in d.Files)
            Copy(new CopySpec(f.Source ?? Inline(f.Content!), f.Path, f.Uid, f.Gid, f.Mode ?? (f.Source is null ? 0x1A4 : null)));
        int scripts = 0;
        foreach (var r in d.Run)
        {
            if (r.Command is { } command)
            {
                steps.Add(TreeStep.Of(command));
                continue;
            }
            string inTree = DockerfileRenderer.ScriptFolder + "/" + DockerfileRenderer.ScriptName(++scripts, r.Script!);
            Copy(new CopySpec(r.Script!, inTree));
            steps.Add(TreeStep.Of(DockerfileRenderer.ScriptCommand(inTree)));
        }
        foreach (var u in d.Users)
        {
            steps.Add(TreeStep.Of(DockerfileRenderer.UserCommand(u)));
            if (u.SshKeys.Count > 0)
            {
                // The Dockerfile copies the file with --chown=NAME: here the name is resolved in the tree by the same shell.
                string file = DockerfileRenderer.Quote($"/home/{u.Name}/.ssh/authorized_keys"), name = DockerfileRenderer.Quote(u.Name);
                steps.Add(TreeStep.Of($"mkdir -p {DockerfileRenderer.Quote($"/home/{u.Name}/.ssh")} && " +
                                      $"printf '%s\\n' {string.Join(' ', u.SshKeys.Select(DockerfileRenderer.Quote))} > {file} && " +
                                      $"chown {name}:\"$(id -g {name})\" {file} && chmod 600 {file}"));
            }
        }
        if (d.SshKeys.Count > 0)
            Copy(new CopySpec(Inline(string.Concat(d.SshKeys.Select(k => k + "\n"))), "/root/.ssh/authorized_keys", 0, 0, 0x180));
        foreach (var s in d.Services)
            Copy(new CopySpec(Inline(DockerfileRenderer.ZinitYaml(s)), $"/etc/zinit/{s.Name}.yaml", 0, 0, 0x1A4));
        if (d.Cleanup.Count > 0) steps.Add(TreeStep.Of(DockerfileRenderer.CleanupCommand(d.Cleanup)));
        var startup = Startup(d, config);
        steps.Add(TreeStep.Of(root =>
        {
            using var tree = new StagingRoot(root);
            tree.WriteFile(StartupToml.Path, s => s.Write(startup), 0x1A4);
        }));
        return steps;
    }

    /// <summary>
    /// Creates the missing folders above a copy's destination (0755) owned by the copy's owner, as a Dockerfile's
    /// <c>COPY --chown</c> does (buildah makes <c>/srv</c> 33:33 for <c>COPY --chown=33:33 … /srv/www</c>).
    /// </summary>
    private static TreeStep MissingParents(CopySpec copy) => TreeStep.Of(root =>
    {
        using var tree = new StagingRoot(root);
        var parts = StagingRoot.Normalize(copy.Destination).Split('/');
        string path = "";
        for (int i = 0; i < parts.Length - 1; i++)
        {
            path = path.Length == 0 ? parts[i] : path + "/" + parts[i];
            if (tree.Lstat(path) is null) tree.CreateDirectory(path, 0x1ED, copy.Uid, copy.Gid);
        }
    });

    /// <summary>The PATH a Dockerfile build (docker, buildah) puts into the config when the base image has none.</summary>
    internal const string DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    /// <summary>
    /// <c>/.startup.toml</c> as <c>rootfsforge container</c> writes it for the image a Dockerfile with the definition's
    /// ENV, WORKDIR and ENTRYPOINT makes: the definition's entrypoint replaces the image's and clears its CMD (as
    /// ENTRYPOINT in a Dockerfile does), its env is added to the image's (later values win; the default PATH first when
    /// the image has none, as a Dockerfile build adds it), its workdir replaces the image's.
    /// </summary>
    internal static byte[] Startup(ImageDefinition d, ImageConfig config)
    {
        var entrypoint = d.Entrypoint ?? config.Entrypoint;
        var cmd = d.Entrypoint is null ? config.Cmd : [];
        var env = new List<string>();
        if (!config.Env.Any(e => e.StartsWith("PATH=", StringComparison.Ordinal))) env.Add(DefaultPath);
        env.AddRange(config.Env);
        env.AddRange(d.Env.Select(e => e.Key + "=" + e.Value));
        return StartupToml.Render(entrypoint, cmd, env, d.WorkingDirectory ?? config.WorkingDir);
    }

    /// <summary>The reference with a relative <c>oci:</c> or <c>docker-archive:</c> path resolved against the definition's folder.</summary>
    private static ImageReference Resolve(string text, string directory)
    {
        var reference = ImageReference.Parse(text);
        if (reference.Transport == ImageTransport.Registry || Path.IsPathRooted(reference.Path)) return reference;
        string prefix = text[..(text.IndexOf(':', StringComparison.Ordinal) + 1)];
        string rest = text[(prefix.Length + reference.Path!.Length)..];
        return ImageReference.Parse(prefix + Path.GetFullPath(Path.Combine(directory, reference.Path)) + rest);
    }
}
