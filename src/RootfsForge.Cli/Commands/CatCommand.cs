using System.CommandLine;

namespace RootfsForge.Cli.Commands;

/// <summary><c>rootfsforge cat INPUT PATH</c>: writes one file's content to standard output.</summary>
internal static class CatCommand
{
    public static Command Create()
    {
        var input = new Argument<string>("INPUT") { Description = ImageOptions.InputDescription };
        var path = new Argument<string>("PATH") { Description = "Absolute path inside the tree, e.g. /etc/os-release. Symlinks are followed inside the tree." };
        var partition = CommonOptions.Partition();
        var allowBacking = CommonOptions.AllowBackingOutside();
        var command = new Command("cat", "Write a file from an input's root filesystem (disk image, tar, directory, .fl or container image) to standard output.")
        {
            input, path, partition, allowBacking,
        };
        var images = new ImageOptions();
        images.AddTo(command);
        var report = new ReportOptions(json: false);
        report.AddTo(command);
        command.SetAction((parse, _) => CommandRunner.RunAsync(async ct =>
        {
            string source = parse.GetValue(input)!;
            ImageOptions.CheckInput(source);
            var disk = CommonOptions.DiskOptions(parse, partition, allowBackingOutside: allowBacking);
            await using var lookup = await InputLookup.OpenAsync(parse, images, source, disk, report.Get(parse).DetailOnly(), ct).ConfigureAwait(false);
            string p = parse.GetValue(path)!;
            var entry = lookup.Tree.GetEntry(p, followSymlinks: true)
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
