using System.CommandLine;
using RootfsForge.Sinks;
using RootfsForge.Tree;

namespace RootfsForge.Cli.Commands;

/// <summary><c>rootfsforge extract IMAGE -o OUT</c>: the root filesystem as a tar (plain, .gz, .zst, stdout), a directory, a .fl or a hub upload.</summary>
internal static class ExtractCommand
{
    public static Command Create()
    {
        var image = new Argument<string>("INPUT") { Description = ImageOptions.InputDescription };
        var output = new Option<string>("--output", "-o")
        {
            Description = "Where to write: X.tar, X.tar.gz, X.tar.zst, - (tar to stdout), X.fl (with --store), hub:NAME (with --hub), or a directory (created; must be empty).",
            Required = true,
        };
        var partition = CommonOptions.Partition();
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress bar, warnings or summary." };
        var verify = CommonOptions.VerifyChecksums();
        var noReplay = CommonOptions.NoJournalReplay();
        var allowBacking = CommonOptions.AllowBackingOutside();
        var clamp = new Option<string?>("--mtime-clamp")
        {
            Description = "Clamp every mtime to this time (Unix seconds or ISO 8601); defaults to $SOURCE_DATE_EPOCH when set.",
        };
        var command = new Command("extract", "Extract the root filesystem of a disk image (or any tree input: tar, directory, .fl, container image), with every owner, mode, xattr, device, hard link and timestamp.")
        {
            image, output, partition, quiet, verify, noReplay, clamp, allowBacking,
        };
        var images = new ImageOptions();
        images.AddTo(command);
        var targets = new OutputOptions();
        targets.AddTo(command);
        command.SetAction((parse, _) => CommandRunner.RunAsync(async ct =>
        {
            bool q = parse.GetValue(quiet);
            var clampTime = OutputOptions.ParseClamp(parse.GetValue(clamp));
            string path = parse.GetValue(image)!;
            ImageOptions.CheckInput(path);
            var disk = CommonOptions.DiskOptions(parse, partition, verify, noReplay, allowBacking);
            await using var outputs = targets.Open(parse, parse.GetValue(output), new SinkFactoryOptions { MtimeClamp = clampTime });
            await using var input = await images.OpenInputAsync(parse, path, q, ct, disk).ConfigureAwait(false);
            await using var sink = outputs.CreateSink();
            using (var progress = new ProgressReporter(sink, input.ExpectedBytes ?? 0, enabled: !q))
            {
                await TreeCopy.RunAsync(input.Tree, sink, null, ct).ConfigureAwait(false);
                progress.Dispose();
                if (!q) PrintSummary(sink.Statistics, input.Warnings, progress.Elapsed, outputs.Spec);
                await outputs.FinishAsync(sink, q, ct).ConfigureAwait(false);
            }
            return ExitCodes.Ok;
        }));
        return command;
    }

    internal static void PrintSummary(SinkStatistics stats, IReadOnlyList<string> sourceWarnings, TimeSpan elapsed, OutputSpec output)
    {
        foreach (var w in sourceWarnings) Console.Error.WriteLine($"rootfsforge: warning: {w}");
        foreach (var w in stats.Warnings) Console.Error.WriteLine($"rootfsforge: warning: {w}");
        double s = Math.Max(elapsed.TotalSeconds, 0.001);
        string extra = stats.SkippedSockets > 0 ? $", {stats.SkippedSockets} socket(s) skipped (tar cannot hold them)" : "";
        Console.Error.WriteLine(
            $"rootfsforge: {stats.Entries:N0} entries, {Format.Bytes(stats.ContentBytes)} of file data in {s:0.00} s " +
            $"({Format.Bytes((long)(stats.ContentBytes / s))}/s) -> {output}{extra}");
    }
}
