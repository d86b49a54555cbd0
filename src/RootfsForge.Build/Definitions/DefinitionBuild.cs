using System.Globalization;
using System.Runtime.Versioning;
using System.Text;
using RootfsForge.Hub;
using RootfsForge.Processes;
using RootfsForge.Sinks;
using RootfsForge.Sinks.Flist;
using RootfsForge.Sources.Directories;
using RootfsForge.Steps;
using RootfsForge.Stores;
using RootfsForge.Tree;
using RootfsForge.Vm;

namespace RootfsForge.Definitions;

/// <summary>What <see cref="DefinitionBuild.RunAsync"/> does besides building.</summary>
public sealed record DefinitionBuildOptions
{
    /// <summary>Where the outputs and <c>NAME.build.json</c> go (created when missing).</summary>
    public required string OutputDirectory { get; init; }

    /// <summary>Rebuild even when the previous manifest says the outputs are up to date.</summary>
    public bool Force { get; init; }

    /// <summary>Upload <c>hub</c> outputs (without it they are skipped).</summary>
    public bool Push { get; init; }

    /// <summary>The download cache (default <see cref="SourceFetcher.DefaultCacheDirectory"/>).</summary>
    public string? CacheDirectory { get; init; }

    /// <summary>A base64 Ed25519 seed (see <see cref="ManifestSignature.ResolveKey"/>): the manifest in a <c>.fl</c>'s tags is signed with it.</summary>
    public string? SigningKey { get; init; }

    /// <summary>The RootfsForge version recorded in the manifest in full; its release part (without <c>+commit</c>) is part of the inputs key.</summary>
    public required string ToolVersion { get; init; }

    /// <summary>Registries (host[:port]) a container definition's image may be pulled from over plain HTTP (local registries only).</summary>
    public IReadOnlyList<string> InsecureRegistries { get; init; } = [];

    /// <summary>Progress lines.</summary>
    public Action<string>? Progress { get; init; }

    /// <summary>Output of commands run in the chroot.</summary>
    public Action<string>? CommandOutput { get; init; }
}

/// <summary>What a build did.</summary>
/// <param name="UpToDate">True when nothing was built: the manifest at <paramref name="ManifestPath"/> already matches.</param>
/// <param name="Manifest">The manifest written (or the one found up to date).</param>
/// <param name="ManifestPath">NAME.build.json.</param>
public sealed record DefinitionBuildResult(bool UpToDate, BuildManifest Manifest, string ManifestPath);

/// <summary>
/// <c>rootfsforge build</c>: fetches a definition's source, runs the <see cref="VmBuild"/> pipeline with the definition's
/// packages, files, commands, users and services, writes every output through <see cref="SinkFactory"/>, and records a
/// <see cref="BuildManifest"/> as <c>NAME.build.json</c> (and in every <c>.fl</c>'s tags). A build whose inputs key
/// (definition hash, source digest, tool version) equals the previous manifest's is "up to date" and writes nothing.
/// Every time in the outputs is clamped to SOURCE_DATE_EPOCH (the definition's, else the environment's, else the newest
/// modification time in the source tree), so a build without package steps repeats byte for byte.
/// </summary>
[SupportedOSPlatform("linux")]
public static class DefinitionBuild
{
    /// <summary>Where host copies of scripts are put in the tree while they run (removed afterwards).</summary>
    private const string ScriptFolder = "/root/.rootfsforge-build";

    /// <summary>The manifest's file name for a definition.</summary>
    public static string ManifestPath(ImageDefinition definition, string outputDirectory) =>
        Path.Combine(Path.GetFullPath(outputDirectory), definition.Name + ".build.json");

    /// <summary>Builds <paramref name="definition"/> (or finds it up to date).</summary>
    /// <exception cref="ImageFormatException">The source's SHA-256 is not the pinned one (nothing is built), or the source is not an image.</exception>
    /// <exception cref="NotSupportedException">The definition asks for something this build cannot do yet (named in the message).</exception>
    public static async Task<DefinitionBuildResult> RunAsync(ImageDefinition definition, DefinitionBuildOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(definition);
        ArgumentNullException.ThrowIfNull(options);
        var progress = options.Progress ?? (_ => { });
        var outDir = Path.GetFullPath(options.OutputDirectory);
        var manifestPath = ManifestPath(definition, outDir);
        if (definition.Kind == ImageKind.Container)
            return await ContainerDefinitionBuild.RunAsync(definition, options, cancellationToken).ConfigureAwait(false);

        using var fetcher = new SourceFetcher(options.CacheDirectory, progress);
        progress($"==> source ({definition.From.Type})");
        var (input, digest) = await ResolveSourceAsync(definition, fetcher, options, progress, cancellationToken).ConfigureAwait(false);
        var key = new BuildManifest
        {
            Name = definition.Name,
            Kind = "vm",
            DefinitionSha256 = DefinitionDocument.Sha256(definition),
            Source = new ManifestSource(definition.From.Type, definition.From.Reference, digest),
            RootfsForgeVersion = options.ToolVersion,
        };
        if (!options.Force && UpToDate(manifestPath, key, outDir) is { } previous)
        {
            progress($"{definition.Name}: up to date ({manifestPath})");
            return new DefinitionBuildResult(true, previous, manifestPath);
        }

        Directory.CreateDirectory(outDir);
        var temp = Directory.CreateTempSubdirectory("rootfsforge-build-");
        try
        {
            var steps = Steps(definition, temp.FullName);
            long? epoch = definition.SourceDateEpoch ?? EnvironmentEpoch();
            IReadOnlyList<ManifestPackage> packages = [];
            string? kernelRelease = null;
            var outputs = new List<ManifestOutput>();
            var vm = new VmBuildOptions
            {
                Install = definition.Install,
                Remove = definition.Remove,
                Copies = steps.Copies,
                Runs = steps.Commands,
                Kernel = Kernel(definition),
                KernelDefinitions = BodyParser.KernelDefinitionsFor(Path.GetDirectoryName(definition.File)!),
                Progress = progress,
                CommandOutput = options.CommandOutput,
                SourceDateEpoch = root =>
                {
                    epoch ??= NewestModification(root);
                    progress($"    SOURCE_DATE_EPOCH={epoch}");
                    return epoch;
                },
            };
            var result = await VmBuild.RunAsync(
                VmInputs.ExtractFrom(input, progress),
                async (root, ct) =>
                {
                    packages = InstalledPackages.Read(root);
                    kernelRelease = KernelRelease(root);
                    await WriteOutputsAsync(definition, options, key with { SourceDateEpoch = epoch, Packages = packages, Kernel = kernelRelease }, root, outDir,
                        new UnixTime(epoch!.Value, 0), outputs, progress, ct).ConfigureAwait(false);
                },
                vm, cancellationToken).ConfigureAwait(false);

            var manifest = key with { SourceDateEpoch = epoch, Packages = packages, Kernel = result.Kernel?.Version ?? kernelRelease, Outputs = outputs };
            var tmpManifest = manifestPath + ".tmp";
            await File.WriteAllBytesAsync(tmpManifest, manifest.ToJson(), cancellationToken).ConfigureAwait(false);
            File.Move(tmpManifest, manifestPath, overwrite: true);
            progress($"manifest: {manifestPath}");
            return new DefinitionBuildResult(false, manifest, manifestPath);
        }
        finally
        {
            temp.Delete(recursive: true);
        }
    }

    /// <summary>The previous manifest when its inputs key is <paramref name="key"/>'s and every file output it lists still exists.</summary>
    internal static BuildManifest? UpToDate(string manifestPath, BuildManifest key, string outDir)
    {
        if (!File.Exists(manifestPath)) return null;
        BuildManifest previous;
        try
        {
            previous = BuildManifest.Parse(File.ReadAllBytes(manifestPath));
        }
        catch (InvalidDataException)
        {
            return null;
        }
        if (previous.InputsKey != key.InputsKey) return null;
        foreach (var o in previous.Outputs)
            if (o.Sha256 is not null && !File.Exists(Path.Combine(outDir, o.Path))) return null;
        return previous;
    }

    /// <summary>A local file or folder holding the source, and its digest (<c>sha256:HEX</c>).</summary>
    private static async Task<(string Input, string? Digest)> ResolveSourceAsync(ImageDefinition definition, SourceFetcher fetcher,
        DefinitionBuildOptions options, Action<string> progress, CancellationToken ct)
    {
        switch (definition.From)
        {
            case UrlSource url:
                var sha = await fetcher.ExpectedSha256Async(url, ct).ConfigureAwait(false);
                return (await fetcher.FetchAsync(url.Url, sha, ct).ConfigureAwait(false), "sha256:" + sha);
            case PathSource path:
                if (!File.Exists(path.Path) && !Directory.Exists(path.Path))
                    throw new FileNotFoundException($"{definition.File}: from.path {path.Written} does not exist", path.Path);
                return (path.Path, "sha256:" + DefinitionDocument.HashPath(path.Path));
            case BootstrapSource bootstrap:
                return (await BootstrapAsync(bootstrap, options, progress, ct).ConfigureAwait(false), null);
            default:
                throw new NotSupportedException($"from: {definition.From.Type} is not built by 'rootfsforge build' for a vm yet");
        }
    }

    /// <summary>
    /// Runs mmdebstrap (or debootstrap) into a tar in the cache, named by the SHA-256 of its parameters; a cached tar is
    /// reused (a live mirror changes, so <c>--force</c> does not refresh it: delete the cache entry for a fresh one).
    /// </summary>
    private static async Task<string> BootstrapAsync(BootstrapSource source, DefinitionBuildOptions options, Action<string> progress, CancellationToken ct)
    {
        var cache = Path.Combine(Path.GetFullPath(options.CacheDirectory ?? SourceFetcher.DefaultCacheDirectory), "bootstrap");
        Directory.CreateDirectory(cache);
        var id = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(source.Tool + " " + source.Reference)));
        var tar = Path.Combine(cache, id + ".tar");
        if (File.Exists(tar))
        {
            progress($"    {source.Tool} {source.Suite}: cached ({tar})");
            return tar;
        }
        if (source.Tool != "mmdebstrap") throw new NotSupportedException("from: debootstrap is not built yet; use mmdebstrap");
        var program = ProcessRunner.TryFindProgram("mmdebstrap")
            ?? throw new InvalidOperationException("from: mmdebstrap needs the mmdebstrap program (apt-get install mmdebstrap)");
        // --skip=output/dev: no device nodes in the tar. A cloud image's /dev is empty too; the chroot session mounts its
        // own /dev, and nodes extracted into the staging root would shadow nothing but fail lint V10.
        var args = new List<string> { "--mode=root", "--format=tar", "--skip=output/dev" };
        if (source.Variant is { } v) args.Add("--variant=" + v);
        if (source.Components.Count > 0) args.Add("--components=" + string.Join(',', source.Components));
        if (source.Include.Count > 0) args.Add("--include=" + string.Join(',', source.Include));
        args.AddRange([source.Suite, tar + ".part", source.Mirror]);
        var env = new Dictionary<string, string>(ProcessSpec.HostEnvironment, StringComparer.Ordinal);
        if (Environment.GetEnvironmentVariable("SOURCE_DATE_EPOCH") is { Length: > 0 } sde) env["SOURCE_DATE_EPOCH"] = sde;
        progress($"    {program} {string.Join(' ', args)}");
        try
        {
            await ProcessRunner.RunAsync(new ProcessSpec(program, args)
            {
                Environment = env,
                Output = ProcessOutput.Lines(options.CommandOutput ?? (_ => { }), "mmdebstrap: "),
            }, ct).ConfigureAwait(false);
            File.Move(tar + ".part", tar);
        }
        finally
        {
            File.Delete(tar + ".part");
        }
        return tar;
    }

    /// <summary>The copies and commands that apply files, runs, users, ssh keys, services and cleanup, in that order.</summary>
    internal static (List<CopySpec> Copies, List<string> Commands) Steps(ImageDefinition d, string temp)
    {
        var copies = new List<CopySpec>();
        var commands = new List<string>();
        int n = 0;
        string Inline(string content)
        {
            var f = Path.Combine(temp, $"inline-{n++}");
            File.WriteAllText(f, content);
            return f;
        }
        foreach (var f in d.Files)
            copies.Add(new CopySpec(f.Source ?? Inline(f.Content!), f.Path, f.Uid, f.Gid, f.Mode ?? (f.Source is null ? 0x1a4 : null)));
        int script = 0;
        foreach (var r in d.Run)
        {
            if (r.Command is { } c) commands.Add(c);
            else
            {
                var inTree = $"{ScriptFolder}/run-{script++}";
                copies.Add(new CopySpec(r.Script!, inTree, 0, 0, 0x1c0));
                commands.Add(inTree);
            }
        }
        foreach (var u in d.Users)
        {
            foreach (var g in u.Groups) commands.Add($"getent group {Quote(g)} >/dev/null || groupadd {Quote(g)}");
            var add = new StringBuilder("useradd -m");
            if (u.Uid is uint uid) add.Append(CultureInfo.InvariantCulture, $" -u {uid}");
            if (u.Shell is { } shell) add.Append(" -s ").Append(Quote(shell));
            if (u.Groups.Count > 0) add.Append(" -G ").Append(Quote(string.Join(',', u.Groups)));
            commands.Add($"id -u {Quote(u.Name)} >/dev/null 2>&1 || {add} {Quote(u.Name)}");
            if (u.SshKeys.Count > 0) commands.Add(AuthorizedKeys(u.Name, u.SshKeys));
        }
        if (d.SshKeys.Count > 0) commands.Add(AuthorizedKeys("root", d.SshKeys));
        foreach (var s in d.Services)
        {
            if (s.Unit is { } unit) copies.Add(new CopySpec(Inline(unit), "/etc/systemd/system/" + s.Name, 0, 0, 0x1a4));
            commands.Add($"systemctl enable {Quote(s.Name)}");
        }
        if (script > 0) commands.Add($"rm -rf {ScriptFolder}");
        foreach (var c in d.Cleanup)
        {
            int slash = c.LastIndexOf('/');
            commands.Add($"rm -rf -- {Quote(c[..(slash + 1)])}{(c[(slash + 1)..].All(ch => char.IsAsciiLetterOrDigit(ch) || "*?[]._-+".Contains(ch)) ? c[(slash + 1)..] : Quote(c[(slash + 1)..]))}");
        }
        return (copies, commands);
    }

    /// <summary>A command that appends <paramref name="keys"/> to the user's authorized_keys (folder 0700, file 0600, owned by the user).</summary>
    private static string AuthorizedKeys(string user, IReadOnlyList<string> keys)
    {
        var home = $"\"$(getent passwd {Quote(user)} | cut -d: -f6)\"";
        return $"h={home} && install -d -m 700 -o {Quote(user)} -g \"$(id -g {Quote(user)})\" \"$h/.ssh\" && " +
               $"printf '%s\\n' {string.Join(' ', keys.Select(Quote))} >> \"$h/.ssh/authorized_keys\" && " +
               $"chmod 600 \"$h/.ssh/authorized_keys\" && chown {Quote(user)}:\"$(id -g {Quote(user)})\" \"$h/.ssh/authorized_keys\"";
    }

    private static string Quote(string s) => "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    private static KernelChoice Kernel(ImageDefinition d) => d.Kernel switch
    {
        { Package: { } p } => new KernelChoice { Package = p },
        { Family: { } f } => new KernelChoice
        {
            Package = BodyParser.KernelDefinitionsFor(Path.GetDirectoryName(d.File)!).First(k => k.Family == f).Package,
        },
        _ => KernelChoice.Image,
    };

    /// <summary>The release in <c>/boot/vmlinuz -> vmlinuz-RELEASE</c> (the link the kernel step makes), or null.</summary>
    private static string? KernelRelease(string root) =>
        new FileInfo(Path.Combine(root, "boot", "vmlinuz")).LinkTarget is { } target && Path.GetFileName(target) is var name
        && name.StartsWith("vmlinuz-", StringComparison.Ordinal) ? name["vmlinuz-".Length..] : null;

    internal static long? EnvironmentEpoch() =>
        long.TryParse(Environment.GetEnvironmentVariable("SOURCE_DATE_EPOCH"), NumberStyles.None, CultureInfo.InvariantCulture, out long v) ? v : null;

    /// <summary>The newest modification time (seconds) of any entry below <paramref name="root"/>, not following symlinks.</summary>
    internal static long NewestModification(string root)
    {
        long newest = 0;
        var stack = new Stack<DirectoryInfo>();
        stack.Push(new DirectoryInfo(root));
        while (stack.Count > 0)
        {
            foreach (var e in stack.Pop().EnumerateFileSystemInfos())
            {
                newest = Math.Max(newest, new DateTimeOffset(e.LastWriteTimeUtc).ToUnixTimeSeconds());
                if (e is DirectoryInfo d && d.LinkTarget is null) stack.Push(d);
            }
        }
        return newest;
    }

    /// <summary>
    /// Writes every output of the definition from the finished tree: files first (their digests go into the manifest a
    /// <c>.fl</c> carries in its tags), then the <c>.fl</c>, then hub uploads (with <see cref="DefinitionBuildOptions.Push"/>).
    /// </summary>
    internal static async Task WriteOutputsAsync(ImageDefinition d, DefinitionBuildOptions options, BuildManifest manifest, string root,
        string outDir, UnixTime clamp, List<ManifestOutput> outputs, Action<string> progress, CancellationToken ct)
    {
        var baseOptions = new SinkFactoryOptions { MtimeClamp = clamp, Overwrite = true };
        foreach (var o in d.Outputs.Where(o => o.Format is OutputFormat.Tar or OutputFormat.TarGz or OutputFormat.TarZst))
        {
            var path = Path.Combine(outDir, d.Name + o.Suffix);
            await CopyAsync(root, OutputSpec.Parse(path), baseOptions, ct).ConfigureAwait(false);
            outputs.Add(new ManifestOutput(o.Suffix.TrimStart('.'), Path.GetFileName(path), BuildManifest.Sha256Of(path), new FileInfo(path).Length, null));
            progress($"    wrote {path}");
        }
        foreach (var o in d.Outputs.Where(o => o.Format == OutputFormat.Flist))
        {
            var path = Path.Combine(outDir, d.Name + ".fl");
            var routes = o.Stores.Select(s => BlockStoreRoute.Parse(StoreUrlWithCredentials(s))).ToList();
            try
            {
                var tagged = manifest with { Outputs = [.. outputs] };
                var flOptions = baseOptions with
                {
                    Flist = new FlistSinkOptions
                    {
                        Stores = routes, MtimeClamp = clamp, BlockIndexPath = FlistSinkOptions.DefaultBlockIndexPath,
                        TagsForTree = tree => FlistManifest.ToTags(tagged, tree, options.SigningKey, d.Metadata),
                    },
                };
                var sink = await CopyAsync(root, OutputSpec.Parse(path), flOptions, ct).ConfigureAwait(false);
                long? blocks = sink is FlistSink fl ? fl.Blocks.Blocks : null;
                outputs.Add(new ManifestOutput("fl", Path.GetFileName(path), BuildManifest.Sha256Of(path), new FileInfo(path).Length, blocks));
                progress($"    wrote {path}");
            }
            finally
            {
                foreach (var r in routes) await r.Store.DisposeAsync().ConfigureAwait(false);
            }
        }
        foreach (var o in d.Outputs.Where(o => o.Format == OutputFormat.Hub))
        {
            var name = o.HubName ?? (d.Metadata.Version is { } v ? $"{d.Name}-{v}" : d.Name);
            if (!options.Push)
            {
                progress($"    hub:{name}: skipped (no --push)");
                continue;
            }
            using var hub = new HubClient(o.HubUrl!, HubClient.ResolveToken(o.HubTokenFile));
            await CopyAsync(root, OutputSpec.Parse(OutputSpec.HubPrefix + name), baseOptions with { Hub = hub }, ct).ConfigureAwait(false);
            outputs.Add(new ManifestOutput("hub", "hub:" + name, null, null, null));
            progress($"    uploaded hub:{name}");
        }
    }

    private static async Task<TreeSink> CopyAsync(string root, OutputSpec spec, SinkFactoryOptions options, CancellationToken ct)
    {
        var source = new DirectorySource(root);
        await using var sink = SinkFactory.Create(spec, options);
        await TreeCopy.RunAsync(source, sink, null, ct).ConfigureAwait(false);
        return sink;
    }

    /// <summary>The store URL with the credentials from the environment variable or file put in (never from the definition).</summary>
    private static string StoreUrlWithCredentials(StoreSpec store)
    {
        string? secret = store.CredentialsEnv is { } env ? Environment.GetEnvironmentVariable(env)
            ?? throw new InvalidOperationException($"store {store.Url}: the environment variable {env} is not set")
            : store.CredentialsFile is { } file ? File.ReadAllText(file).Trim() : null;
        if (secret is null) return store.Url;
        int scheme = store.Url.IndexOf("://", StringComparison.Ordinal) + 3;
        return store.Url[..scheme] + secret + "@" + store.Url[scheme..];
    }
}
