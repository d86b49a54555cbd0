using System.CommandLine;
using System.Diagnostics;
using RootfsForge.Lint;
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
            Description = "The container image: docker://[REGISTRY/]REPO[:TAG|@sha256:DIGEST], oci:DIR[:TAG] or docker-archive:FILE.tar.",
        };
        var output = new Option<string?>("--output", "-o")
        {
            Description = OutputOptions.OutputDescription + " (default: NAME.tar.gz, NAME.fl with --store, hub:NAME with --hub, where NAME " +
                          "is the hub's name for the image: redis:7 -> redis-7).",
            HelpName = "OUTPUT",
        };
        var noStartup = new Option<bool>("--no-startup") { Description = "Do not write /.startup.toml (the entrypoint ZOS falls back to)." };
        var tags = new Option<string[]>("--tag") { Description = "An extra .fl tag KEY=VALUE (repeatable); the image's labels and digest are added anyway.", HelpName = "KEY=VALUE" };
        var noLint = new Option<bool>("--no-lint") { Description = "Skip the container checks (no kernel, the entrypoint exists; see 'lint'). By default they run and what fails is reported as warnings (and in the --json document); the command still succeeds." };
        var clamp = OutputOptions.MtimeClampOption();
        var image = new ImageOptions();
        var command = new Command("container", "Build a container flist from an OCI image: layers merged as a runtime sees them, /.startup.toml from the image config.")
        {
            reference, output, noStartup, tags, clamp, noLint,
        };
        var report = new ReportOptions(schema: "container");
        report.AddTo(command);
        image.AddTo(command);
        var targets = new OutputOptions();
        targets.AddTo(command);
        command.SetAction((parse, _) => CommandRunner.RunAsync(async ct =>
        {
            var r = report.Get(parse);
            bool q = r.Quiet;
            var reference1 = ImageOptions.ParseReference(parse.GetValue(reference)!);
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
            var clock = Stopwatch.StartNew();
            await using var oci = await OciImage.OpenAsync(reference1, image.Options(parse, q), ct).ConfigureAwait(false);
            var sinkOptions = outputs.Options;
            if (sinkOptions.Flist is { } fl)
            {
                var allTags = new Dictionary<string, string>(ContainerFlist.Tags(oci), StringComparer.Ordinal);
                foreach (var (k, v) in extraTags) allTags[k] = v;
                sinkOptions = sinkOptions with { Flist = fl with { Tags = allTags } };
            }
            // The sink exists before the layers are read: a .fl sink takes the contents as they are decompressed.
            await using var sink = outputs.CreateSink(sinkOptions);
            // Downloads, decompression and merging overlap (OciTreeSource pipelines the layers).
            await using var layers = await OciTreeSource.OpenAsync(oci, ImageOptions.LayerOptions(q).ForSink(sink), ct).ConfigureAwait(false);
            var merged = clock.Elapsed;
            var downloaded = image.AllLayersFetched ?? merged;
            var tree = ContainerFlist.Tree(layers, startup: !parse.GetValue(noStartup), clampTime ?? default);
            // The container checks, reported in the summary as warnings rather than failing the command: the output is a
            // faithful conversion of the image, and a deployment's own entrypoint takes precedence over /.startup.toml
            // (docs/flist-format.md §8). 'rootfsforge lint' on the output fails on them.
            // -q only silences the report: the checks run unless --no-lint, on the entries the copy below walks (no
            // walk of their own; the verdict is reported after the copy anyway).
            var lintIndex = parse.GetValue(noLint) ? null : new TreeIndex();
            ITreeSource walked = lintIndex is null ? tree : new IndexingTreeSource(tree, lintIndex);
            using (var progress = r.Progress(layers.LayerBytes))
            {
                await TreeCopy.RunAsync(walked, sink, progress, ct).ConfigureAwait(false);
                progress.Dispose();
                var lint = lintIndex is null ? null : Linter.Check(lintIndex, FlistKind.Container, ct);
                r.Info(ImageSummary(oci, image.LastProgress, downloaded, merged));
                if (lint is not null) ReportLint(r, lint);
                ExtractCommand.PrintSummary(r, sink.Statistics, tree.Warnings, progress.Elapsed, outputs.Spec);
                await outputs.FinishAsync(sink, q, ct).ConfigureAwait(false);
                if (r.Json)
                    r.Result(new Json.ExtractResult(Json.JsonResultWriter.Schema("container"), oci.Reference.ToString(), null,
                        oci.ManifestDigest ?? oci.ConfigDigest, await Json.Results.OutputAsync(outputs, sink, ct).ConfigureAwait(false),
                        Json.Results.Tree(sink.Statistics), Json.Results.Seconds(progress.Elapsed), r.Warnings,
                        lint is null ? null : Json.Results.Lint(lint)), Json.CliJson.Default.ExtractResult);
            }
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>
    /// The image line of the summary: what was read, how many layers came from the network and how fast, and when the
    /// merge was done (both counted from the start: layers are merged while later ones download).
    /// </summary>
    private static string ImageSummary(OciImage oci, OciProgress? last, TimeSpan download, TimeSpan merge)
    {
        long net = last?.BytesDownloaded ?? 0, total = oci.Layers.Sum(l => l.Size);
        double s = Math.Max(download.TotalSeconds, 0.001);
        string fetched = net > 0
            ? $"{Format.Bytes(net)} downloaded in {s:0.0} s ({Format.Bytes((long)(net / s))}/s), {Format.Bytes(Math.Max(0, total - net))} from the cache"
            : $"all {Format.Bytes(total)} from the cache";
        return $"rootfsforge: {oci.Reference} ({oci.Platform}, {oci.ManifestDigest ?? oci.ConfigDigest}): " +
               $"{oci.Layers.Count} layers, {fetched}; merged in {merge.TotalSeconds:0.0} s (overlapping the download)";
    }

    /// <summary>
    /// The lint part of the summary: the verdict (unless -q), then every failed check (errors and warnings) as a warning,
    /// which the document's <c>warnings</c> keeps also with -q.
    /// </summary>
    private static void ReportLint(Reporter r, LintReport lint)
    {
        var failed = lint.Findings.Where(f => !f.Passed && f.Severity != LintSeverity.Info).ToList();
        int errors = failed.Count(f => f.Severity == LintSeverity.Error);
        r.Info($"rootfsforge: lint (container): {(errors == 0 ? "passed" : $"{errors} error(s)")}" +
               $"{(failed.Count > errors ? $", {failed.Count - errors} warning(s)" : "")}");
        foreach (var f in failed) r.Warning($"lint {f}");
    }
}
