using System.CommandLine;
using RootfsForge.Definitions;

namespace RootfsForge.Cli.Commands;

/// <summary><c>rootfsforge key generate -o KEYFILE</c>: an Ed25519 key pair for signing build manifests.</summary>
internal static class KeyCommand
{
    public static Command Create()
    {
        var key = new Command("key", "Make keys for signing build manifests (Ed25519).");
        key.Subcommands.Add(Generate());
        return key;
    }

    private static Command Generate()
    {
        var output = new Option<string>("--output", "-o")
        {
            Description = "The private key file to create (mode 0600; base64 of the 32-byte seed). The public key goes to " +
                          "KEYFILE.pub and to standard output (with --json, into the document); the private key is never printed.",
            Required = true,
            HelpName = "KEYFILE",
        };
        var command = new Command("generate", $"Create a signing key pair. Builds read the private key from a file or ${ManifestSignature.KeyVariable}.") { output };
        var report = new ReportOptions(schema: "key-generate");
        report.AddTo(command);
        command.SetAction((parse, _) => CommandRunner.RunAsync(async ct =>
        {
            var r = report.Get(parse);
            string path = parse.GetValue(output)!;
            string pubPath = path + ".pub";
            foreach (var p in new[] { path, pubPath })
                if (File.Exists(p) || Directory.Exists(p)) throw new UsageException($"'{p}' exists; refusing to replace a key");
            var (privateKey, publicKey) = ManifestSignature.NewKeyPair();
            // Created with 0600 from the start (no window in which another user could read it), and never replaced.
            var options = new FileStreamOptions
            {
                Mode = FileMode.CreateNew, Access = FileAccess.Write,
                UnixCreateMode = OperatingSystem.IsWindows() ? null : UnixFileMode.UserRead | UnixFileMode.UserWrite,
            };
            await using (var stream = new FileStream(path, options))
            await using (var writer = new StreamWriter(stream))
                await writer.WriteLineAsync(privateKey.AsMemory(), ct).ConfigureAwait(false);
            await File.WriteAllTextAsync(pubPath, publicKey + "\n", ct).ConfigureAwait(false);
            // The document names the files and carries the public key only: the private key never reaches standard output.
            if (r.Json)
                r.Result(new Json.KeyResult(Json.JsonResultWriter.Schema("key-generate"), publicKey, Path.GetFullPath(path), Path.GetFullPath(pubPath)),
                    Json.CliJson.Default.KeyResult);
            else Console.WriteLine(publicKey);
            r.Info($"rootfsforge: private key in {path} (keep it secret: a CI secret or ${ManifestSignature.KeyVariable}), public key in {pubPath}");
            return ExitCodes.Ok;
        }));
        return command;
    }
}
