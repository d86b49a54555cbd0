using System.CommandLine;
using RootfsForge.Hub;

namespace RootfsForge.Cli.Commands;

/// <summary><c>rootfsforge push FILE.tar.gz --hub URL</c>: upload a rootfs tarball to the 0-hub, which makes a .flist of it.</summary>
internal static class PushCommand
{
    public static Command Create()
    {
        var file = new Argument<string>("FILE") { Description = "The rootfs .tar.gz to upload (- for standard input)." };
        var hub = new Option<string>("--hub") { Description = "The hub's base URL, e.g. https://hub.grid.tf.", Required = true };
        var tokenFile = OutputOptions.TokenFileOption();
        var name = new Option<string>("--name") { Description = "The flist name (default: the file name without .tar.gz)." };
        var command = new Command("push", "Upload a rootfs .tar.gz to the 0-hub (POST /api/flist/me/upload).") { file, hub, tokenFile, name };
        command.SetAction((parse, _) => CommandRunner.RunAsync(async ct =>
        {
            string path = parse.GetValue(file)!;
            string flistName = parse.GetValue(name) ?? (path == "-"
                ? throw new UsageException("--name is needed when reading standard input")
                : Path.GetFileName(path).EndsWith(".tar.gz", StringComparison.Ordinal)
                    ? Path.GetFileName(path)[..^".tar.gz".Length]
                    : throw new UsageException($"'{path}' must end in .tar.gz (the hub accepts only gzip tarballs)"));
            using var client = OutputOptions.OpenHub(parse.GetValue(hub)!, parse.GetValue(tokenFile));
            using var stream = path == "-" ? Console.OpenStandardInput() : File.OpenRead(path);
            var result = await client.PushAsync(stream, flistName, ct).ConfigureAwait(false);
            Console.WriteLine(result.Name);
            Console.Error.WriteLine($"rootfsforge: uploaded {flistName}.tar.gz to {parse.GetValue(hub)}; the hub made {result.Name}");
            return ExitCodes.Ok;
        }));
        return command;
    }
}
