using System.CommandLine;

namespace RootfsForge.Cli.Commands;

/// <summary><c>rootfsforge cat IMAGE PATH</c>: writes one file's content to standard output.</summary>
internal static class CatCommand
{
    public static Command Create()
    {
        var image = CommonOptions.Image();
        var path = new Argument<string>("PATH") { Description = "Absolute path inside the image, e.g. /etc/os-release. Symlinks are followed." };
        var partition = CommonOptions.Partition();
        var allowBacking = CommonOptions.AllowBackingOutside();
        var command = new Command("cat", "Write a file from the image's root filesystem to standard output.") { image, path, partition, allowBacking };
        var report = new ReportOptions(json: false);
        report.AddTo(command);
        command.SetAction((parse, _) => CommandRunner.RunAsync(async ct =>
        {
            using var img = CommonOptions.Open(parse, image, partition, report.Get(parse).DetailOnly(), allowBackingOutside: allowBacking);
            string p = parse.GetValue(path)!;
            var entry = img.FileSystem.GetEntry(p, followSymlinks: true)
                ?? throw new UsageException($"{p}: no such file in the image");
            if (entry.OpenContent is null) throw new UsageException($"{p}: is a {entry.Type}, not a file");
            using var content = entry.OpenContent();
            await using var stdout = CommandRunner.OpenStandardOutput();
            await using (var stream = content.OpenStream())
                await stream.CopyToAsync(stdout, 1 << 20, ct).ConfigureAwait(false);
            return ExitCodes.Ok;
        }));
        return command;
    }
}
