using System.CommandLine;
using System.Globalization;
using RootfsForge.Sinks;
using RootfsForge.Tree;

namespace RootfsForge.Cli.Commands;

/// <summary><c>rootfsforge extract IMAGE -o OUT</c>: the root filesystem as a tar (plain, .gz, .zst, stdout) or a directory.</summary>
internal static class ExtractCommand
{
    public static Command Create()
    {
        var image = CommonOptions.Image();
        var output = new Option<string>("--output", "-o")
        {
            Description = "Where to write: X.tar, X.tar.gz, X.tar.zst, - (tar to stdout), X.fl (with --store), hub:NAME (with --hub), or a directory (created; must be empty).",
            Required = true,
        };
        var partition = CommonOptions.Partition();
        var quiet = new Option<bool>("--quiet", "-q") { Description = "No progress bar, warnings or summary." };
        var verify = CommonOptions.VerifyChecksums();
        var noReplay = CommonOptions.NoJournalReplay();
        var clamp = new Option<string?>("--mtime-clamp")
        {
            Description = "Clamp every mtime to this time (Unix seconds or ISO 8601); defaults to $SOURCE_DATE_EPOCH when set.",
        };
        var command = new Command("extract", "Extract the image's root filesystem, with every owner, mode, xattr, device, hard link and timestamp.")
        {
            image, output, partition, quiet, verify, noReplay, clamp,
        };
        var targets = new OutputOptions();
        targets.AddTo(command);
        command.SetAction(parse => CommandRunner.Run(ct =>
        {
            bool q = parse.GetValue(quiet);
            string outPath = parse.GetValue(output)!;
            var clampTime = ParseClamp(parse.GetValue(clamp) ?? Environment.GetEnvironmentVariable("SOURCE_DATE_EPOCH"));
            using var outputs = targets.Open(parse, outPath);
            using var img = CommonOptions.Open(parse, image, partition, verify, noReplay, q);
            using var sink = SinkFactory.Create(outPath, outputs.Apply(new SinkOptions { MtimeClamp = clampTime }));
            var info = img.FileSystem.Info;
            using (var progress = new ProgressReporter(sink.Statistics, info.UsedBytes, enabled: !q))
            {
                TreeCopy.Run(img.FileSystem, sink, ct);
                progress.Dispose();
                if (!q) PrintSummary(sink.Statistics, img.FileSystem.Warnings, progress.Elapsed, outPath);
                outputs.Finish(sink, outPath, q);
            }
            return ExitCodes.Ok;
        }));
        return command;
    }

    internal static void PrintSummary(SinkStatistics stats, IReadOnlyList<string> sourceWarnings, TimeSpan elapsed, string outPath)
    {
        foreach (var w in sourceWarnings) Console.Error.WriteLine($"rootfsforge: warning: {w}");
        foreach (var w in stats.Warnings) Console.Error.WriteLine($"rootfsforge: warning: {w}");
        double s = Math.Max(elapsed.TotalSeconds, 0.001);
        string extra = stats.SkippedSockets > 0 ? $", {stats.SkippedSockets} socket(s) skipped (tar cannot hold them)" : "";
        Console.Error.WriteLine(
            $"rootfsforge: {stats.Entries:N0} entries, {Format.Bytes(stats.ContentBytes)} of file data in {s:0.00} s " +
            $"({Format.Bytes((long)(stats.ContentBytes / s))}/s) -> {(outPath == "-" ? "stdout" : outPath)}{extra}");
    }

    internal static UnixTime? ParseClamp(string? value)
    {
        if (string.IsNullOrWhiteSpace(value)) return null;
        if (long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long seconds))
            return new UnixTime(seconds, 0);
        if (DateTimeOffset.TryParse(value, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t))
            return new UnixTime(t.ToUnixTimeSeconds(), 0);
        throw new UsageException($"--mtime-clamp: '{value}' is neither Unix seconds nor an ISO 8601 time");
    }
}
