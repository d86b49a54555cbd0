using System.CommandLine;
using System.Diagnostics;
using RootfsForge.Hub;

namespace RootfsForge.Cli.Commands;

/// <summary><c>rootfsforge push FILE.tar.gz --hub URL</c>: upload a rootfs tarball to the 0-hub, which makes a .flist of it.</summary>
internal static class PushCommand
{
    /// <summary>The least time between two hub progress lines on stderr (the hub reports every percent).</summary>
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromSeconds(2);

    public static Command Create()
    {
        var file = new Argument<string>("FILE") { Description = "The rootfs .tar.gz to upload (- for standard input)." };
        var hub = new Option<string>("--hub") { Description = "The 0-hub's base URL, e.g. https://hub.grid.tf.", Required = true, HelpName = "URL" };
        var tokenFile = OutputOptions.TokenFileOption();
        var name = new Option<string>("--name") { Description = "The flist name (default: the file name without .tar.gz; required with -).", HelpName = "NAME" };
        var command = new Command("push",
            "Upload a rootfs .tar.gz to the 0-hub (POST /api/flist/me/upload), follow the hub's conversion and wait " +
            "until the .flist can be downloaded. Prints the flist's name.") { file, hub, tokenFile, name };
        var report = new ReportOptions(schema: "push");
        report.AddTo(command);
        command.SetAction((parse, _) => CommandRunner.RunAsync(async ct =>
        {
            var r = report.Get(parse);
            string path = parse.GetValue(file)!;
            string flistName = parse.GetValue(name) ?? (path == "-"
                ? throw new UsageException("--name is needed when reading standard input")
                : Path.GetFileName(path).EndsWith(".tar.gz", StringComparison.Ordinal)
                    ? Path.GetFileName(path)[..^".tar.gz".Length]
                    : throw new UsageException($"'{path}' must end in .tar.gz (the hub accepts only gzip tarballs)"));
            using var client = OutputOptions.OpenHub(parse.GetValue(hub)!, parse.GetValue(tokenFile));
            // A file is sent with its length (Content-Length); standard input is streamed (chunked).
            await using var stream = path == "-" ? Console.OpenStandardInput() : File.OpenRead(path);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var result = await client.PushAsync(stream, flistName, r.Quiet ? null : new HubProgressLines(), ct).ConfigureAwait(false);
            if (r.Json)
                r.Result(new Json.PushResult(Json.JsonResultWriter.Schema("push"), path, path == "-" ? null : stream.Length,
                    Json.Results.Hub(result), Json.Results.Seconds(clock.Elapsed)), Json.CliJson.Default.PushResult);
            else Console.WriteLine(result.Name);
            r.Info($"rootfsforge: uploaded {flistName}.tar.gz; the hub made {result.Name}" +
                (result.FlistUrl is null ? "" : $": {result.FlistUrl} (md5 {result.Md5})"));
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>The hub's conversion progress as plain stderr lines, at most one every <see cref="ProgressInterval"/>.</summary>
    private sealed class HubProgressLines : IProgress<HubProgress>
    {
        private readonly Stopwatch _since = new();

        public void Report(HubProgress value)
        {
            if (_since.IsRunning && _since.Elapsed < ProgressInterval && value.Percent != 100) return;
            _since.Restart();
            Console.Error.WriteLine($"rootfsforge: hub: {value.Message}" + (value.Percent is { } p ? $" ({p} %)" : ""));
        }
    }
}
