using System.CommandLine;
using RootfsForge.Sinks;
using RootfsForge.Sinks.Flist;
using RootfsForge.Sources.Oci;
using RootfsForge.Tree;

namespace RootfsForge.Cli.Commands;

/// <summary>
/// <c>rootfsforge container REF</c>: a container flist from an OCI image (registry, OCI layout or docker archive),
/// without a daemon: layers merged in-process, <c>/.startup.toml</c> from the image config, any output.
/// </summary>
internal static class ContainerCommand
{
    public static Command Create()
    {
        var reference = new Argument<string>("REF")
        {
            Description = "docker://[REGISTRY/]REPO[:TAG|@sha256:DIGEST], oci:DIR[:TAG] or docker-archive:FILE.tar",
        };
        var output = new Option<string?>("--output", "-o")
        {
            Description = "X.tar, X.tar.gz, X.tar.zst, - , X.fl (with --store), hub:NAME (with --hub) or a new directory. " +
                          "Default: NAME.tar.gz, NAME.fl with --store, hub:NAME with --hub, where NAME is the hub's name for the image (redis:7 -> redis-7).",
        };
        var noStartup = new Option<bool>("--no-startup") { Description = "Do not write /.startup.toml (the entrypoint ZOS falls back to)." };
        var tags = new Option<string[]>("--tag") { Description = "An extra .fl tag KEY=VALUE (repeatable); the image's labels and digest are added anyway." };
        var clamp = new Option<string?>("--mtime-clamp") { Description = "Clamp every mtime to this time (Unix seconds or ISO 8601); default $SOURCE_DATE_EPOCH." };
        var image = new ImageOptions();
        var command = new Command("container", "Build a container flist from an OCI image: layers merged as a runtime sees them, /.startup.toml from the image config.")
        {
            reference, output, noStartup, tags, clamp,
        };
        var report = new ReportOptions();
        report.AddTo(command);
        image.AddTo(command);
        var targets = new OutputOptions();
        targets.AddTo(command);
        command.SetAction((parse, _) => CommandRunner.RunAsync(async ct =>
        {
            var r = report.Get(parse);
            bool q = r.Quiet;
            var reference1 = image.ParseReference(parse.GetValue(reference)!);
            string name = ContainerFlist.Name(reference1);
            string outPath = parse.GetValue(output)
                ?? ((parse.GetValue(targets.Stores) ?? []).Length > 0 ? name + ".fl"
                    : parse.GetValue(targets.Hub) is not null ? OutputSpec.HubPrefix + name
                    : name + ".tar.gz");
            var clampTime = OutputOptions.ParseClamp(parse.GetValue(clamp));
            var extraTags = FlCommand.ParseTags(parse.GetValue(tags));
            await using var outputs = targets.Open(parse, outPath, new SinkFactoryOptions { MtimeClamp = clampTime });
            // Only a .fl has tags; like --store and --publish for other outputs, a --tag that would be dropped is refused.
            if (extraTags.Count > 0 && outputs.Spec.Kind != OutputKind.Flist) throw new UsageException("--tag applies only to a .fl output");
            r.CheckOutput(outputs.Spec);
            await using var oci = await OciImage.OpenAsync(reference1, image.Options(parse, q), ct).ConfigureAwait(false);
            await using var layers = await OciTreeSource.OpenAsync(oci, new OciTreeSourceOptions
            {
                Progress = q ? null : new Progress<OciLayerProgress>(p =>
                    Console.Error.WriteLine($"rootfsforge: layer {p.LayersApplied}/{p.LayerCount} applied ({p.Digest[..19]}…)")),
            }, ct).ConfigureAwait(false);
            var tree = ContainerFlist.Tree(layers, startup: !parse.GetValue(noStartup), clampTime ?? default);
            var sinkOptions = outputs.Options;
            if (sinkOptions.Flist is { } fl)
            {
                var allTags = new Dictionary<string, string>(ContainerFlist.Tags(oci), StringComparer.Ordinal);
                foreach (var (k, v) in extraTags) allTags[k] = v;
                sinkOptions = sinkOptions with { Flist = fl with { Tags = allTags } };
            }
            await using var sink = outputs.CreateSink(sinkOptions);
            using (var progress = r.Progress(oci.Layers.Sum(l => l.Size) * 2))
            {
                await TreeCopy.RunAsync(tree, sink, progress, ct).ConfigureAwait(false);
                progress.Dispose();
                r.Info($"rootfsforge: {oci.Reference} ({oci.Platform}, {oci.ManifestDigest ?? oci.ConfigDigest}), {oci.Layers.Count} layers");
                ExtractCommand.PrintSummary(r, sink.Statistics, tree.Warnings, progress.Elapsed, outputs.Spec);
                await outputs.FinishAsync(sink, q, ct).ConfigureAwait(false);
                if (r.Json)
                    r.Result(new Json.ExtractResult(Json.JsonResultWriter.Schema("container"), oci.Reference.ToString(), null,
                        oci.ManifestDigest ?? oci.ConfigDigest, await Json.Results.OutputAsync(outputs, sink, ct).ConfigureAwait(false),
                        Json.Results.Tree(sink.Statistics), Json.Results.Seconds(progress.Elapsed), r.Warnings), Json.CliJson.Default.ExtractResult);
            }
            return ExitCodes.Ok;
        }));
        return command;
    }
}

/// <summary>The options of commands that read an OCI image: platform, blob cache, credentials, insecure registries.</summary>
internal sealed class ImageOptions
{
    public Option<string?> Platform { get; } = new("--platform") { Description = "os/arch[/variant] to pick from a multi-platform image (default linux/amd64)." };

    public Option<string?> Cache { get; } = new("--cache") { Description = "Blob cache folder (default ~/.cache/rootfsforge/blobs): a second image sharing layers downloads only what is new." };

    public Option<string?> CredsFile { get; } = new("--creds-file") { Description = "A registry auth file (containers-auth.json / docker config.json format) read before the standard ones. Credentials are never taken from the command line." };

    public Option<string[]> Insecure { get; } = new("--insecure-registry") { Description = "Allow plain HTTP or an unverified certificate for this registry host[:port] (repeatable; local registries only)." };

    public void AddTo(Command command)
    {
        command.Options.Add(Platform);
        command.Options.Add(Cache);
        command.Options.Add(CredsFile);
        command.Options.Add(Insecure);
    }

    /// <summary>Parses a reference; a malformed one, or a local layout or archive that does not exist, is a usage error.</summary>
    public ImageReference ParseReference(string text)
    {
        ImageReference reference;
        try
        {
            reference = ImageReference.Parse(text);
        }
        catch (FormatException e)
        {
            throw new UsageException(e.Message);
        }
        if (reference.Transport == ImageTransport.OciLayout && !Directory.Exists(reference.Path))
            throw new UsageException($"{text}: no such directory");
        if (reference.Transport == ImageTransport.DockerArchive && !File.Exists(reference.Path))
            throw new UsageException($"{text}: no such file");
        return reference;
    }

    public OciImageOptions Options(ParseResult parse, bool quiet)
    {
        Sources.Oci.Platform? platform = null;
        if (parse.GetValue(Platform) is { } p)
        {
            try
            {
                platform = Sources.Oci.Platform.Parse(p);
            }
            catch (FormatException e)
            {
                throw new UsageException($"--platform: {e.Message}");
            }
        }
        if (parse.GetValue(CredsFile) is { } creds && !File.Exists(creds)) throw new UsageException($"--creds-file {creds}: no such file");
        DateTime last = default;
        return new OciImageOptions
        {
            Platform = platform,
            CacheDirectory = parse.GetValue(Cache),
            CredentialsFile = parse.GetValue(CredsFile),
            InsecureRegistries = parse.GetValue(Insecure) ?? [],
            Progress = quiet ? null : new Progress<OciProgress>(p =>
            {
                if (DateTime.UtcNow - last < TimeSpan.FromSeconds(1) && p.LayersDone < p.LayerCount) return;
                last = DateTime.UtcNow;
                Console.Error.WriteLine($"rootfsforge: layers {p.LayersDone}/{p.LayerCount}, {Format.Bytes(p.BytesDone)} of {Format.Bytes(p.BytesTotal)} ({Format.Bytes(p.BytesDownloaded)} downloaded)");
            }),
        };
    }
}
