using System.CommandLine;
using RootfsForge.Cli.Json;
using RootfsForge.Sinks;
using RootfsForge.Tree;

namespace RootfsForge.Cli.Commands;

/// <summary><c>rootfsforge extract IMAGE -o OUT</c>: the root filesystem as a tar (plain, .gz, .zst, stdout), a directory, a .fl or a hub upload.</summary>
internal static class ExtractCommand
{
    public static Command Create()
    {
        var image = new Argument<string>("INPUT") { Description = ImageOptions.InputDescription };
        var output = new Option<string>("--output", "-o") { Description = OutputOptions.OutputDescription + ".", Required = true, HelpName = "OUTPUT" };
        var partition = CommonOptions.Partition();
        var verify = CommonOptions.VerifyChecksums();
        var noReplay = CommonOptions.NoJournalReplay();
        var allowBacking = CommonOptions.AllowBackingOutside();
        var clamp = OutputOptions.MtimeClampOption();
        var command = new Command("extract", "Extract the root filesystem of a disk image (or any tree input: tar, directory, .fl, container image), with every owner, mode, xattr, device, hard link and timestamp.")
        {
            image, output, partition, verify, noReplay, clamp, allowBacking,
        };
        var images = new ImageOptions();
        images.AddTo(command);
        var report = new ReportOptions(schema: "extract");
        report.AddTo(command);
        var targets = new OutputOptions();
        targets.AddTo(command);
        command.SetAction((parse, _) => CommandRunner.RunAsync(async ct =>
        {
            var r = report.Get(parse);
            var clampTime = OutputOptions.ParseClamp(parse.GetValue(clamp));
            string path = parse.GetValue(image)!;
            ImageOptions.CheckInput(path);
            var disk = CommonOptions.DiskOptions(parse, partition, verify, noReplay, allowBacking);
            await using var outputs = targets.Open(parse, parse.GetValue(output), new SinkFactoryOptions { MtimeClamp = clampTime });
            r.CheckOutput(outputs.Spec);
            // The sink first: a .fl sink takes a container image's contents as its layers are decompressed.
            await using var sink = outputs.CreateSink();
            await using var input = await images.OpenInputAsync(parse, path, r.Quiet, ct, disk, sink).ConfigureAwait(false);
            using (var progress = r.Progress(input.ExpectedBytes ?? 0))
            {
                await TreeCopy.RunAsync(input.Tree, sink, progress, ct).ConfigureAwait(false);
                progress.Dispose();
                PrintSummary(r, sink.Statistics, input.Warnings, progress.Elapsed, outputs.Spec);
                await outputs.FinishAsync(sink, r.Quiet, ct).ConfigureAwait(false);
                if (r.Json)
                    r.Result(new ExtractResult(JsonResultWriter.Schema("extract"), path, input.DiskImage?.RootPartition.Number, input.ContainerImage?.ManifestDigest,
                        await Results.OutputAsync(outputs, sink, ct).ConfigureAwait(false), Results.Tree(sink.Statistics),
                        Results.Seconds(progress.Elapsed), r.Warnings), CliJson.Default.ExtractResult);
            }
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>Reports the source's and sink's warnings and prints the one-line summary of a tree copy.</summary>
    internal static void PrintSummary(Reporter r, SinkStatistics stats, IReadOnlyList<string> sourceWarnings, TimeSpan elapsed, OutputSpec output)
    {
        r.WarnAll(sourceWarnings);
        r.WarnAll(stats.Warnings);
        double s = Math.Max(elapsed.TotalSeconds, 0.001);
        string extra = stats.SkippedSockets > 0 ? $", {stats.SkippedSockets} socket(s) skipped (tar cannot hold them)" : "";
        r.Info(
            $"rootfsforge: {Format.Count(stats.Entries)} entries, {Format.Bytes(stats.ContentBytes)} of file data in {s:0.00} s " +
            $"({Format.Bytes((long)(stats.ContentBytes / s))}/s) -> {output}{extra}");
    }
}
