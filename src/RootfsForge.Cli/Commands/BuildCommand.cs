using System.CommandLine;
using System.Reflection;
using System.Text;
using RootfsForge.Definitions;
using RootfsForge.Steps;

namespace RootfsForge.Cli.Commands;

/// <summary><c>rootfsforge build images/NAME.yaml</c>: builds a definition (README "Definitions").</summary>
internal static class BuildCommand
{
    public static Command Create()
    {
        var definition = new Argument<string>("DEFINITION")
        {
            Description = "The definition: images/NAME.yaml (recipes are looked up in images/recipes/).", Arity = ArgumentArity.ZeroOrOne,
        };
        var outputDir = new Option<string?>("--output-dir", "-O") { Description = "Where the outputs and NAME.build.json go (default: the current directory)." };
        var push = new Option<bool>("--push") { Description = "Also upload the definition's hub outputs (token from the hub output's token_file or RFS_HUB_TOKEN)." };
        var force = new Option<bool>("--force", "-f") { Description = "Rebuild even when NAME.build.json says the outputs are up to date." };
        var print = new Option<bool>("--print") { Description = "Print the resolved definition (recipes applied) as YAML with its hash, and build nothing." };
        var keyFile = new Option<string?>("--signing-key-file") { Description = $"A file holding the base64 Ed25519 key that signs the manifest in .fl tags (else {ManifestSignature.KeyVariable}; never on the command line)." };
        var cache = new Option<string?>("--cache") { Description = "Download and bootstrap cache (default $ROOTFSFORGE_CACHE, else ~/.cache/rootfsforge)." };
        var compare = new Option<string?>("--compare")
        {
            Description = "After building, report which files differ from the build recorded in PREVIOUS.build.json and the bytes of " +
                          "new blocks (both builds need a .fl output; the previous .fl is read before it may be replaced).",
            HelpName = "PREVIOUS.build.json",
        };
        var command = new Command("build", "Build a definition (images/NAME.yaml): fetch and verify the source, apply recipes and steps, write every output and NAME.build.json; nothing when up to date.")
        {
            definition, outputDir, push, force, print, keyFile, cache, compare,
        };
        var listChanged = new BuildListChanged();
        listChanged.AddTo(command);
        command.SetAction((parse, _) => CommandRunner.RunAsync(async ct =>
        {
            if (listChanged.Requested(parse)) return await listChanged.RunAsync(parse, parse.GetValue(definition), ct).ConfigureAwait(false);
            if (parse.GetValue(definition) is null) throw new UsageException("build needs a DEFINITION (images/NAME.yaml)");
            ImageDefinition d;
            try
            {
                d = DefinitionLoader.Load(parse.GetValue(definition)!);
            }
            catch (DefinitionFormatException e)
            {
                Console.Error.WriteLine($"rootfsforge: {e.Message}");
                return ExitCodes.BadInput;
            }
            catch (FileNotFoundException e)
            {
                throw new UsageException(e.Message);
            }
            if (parse.GetValue(print))
            {
                var stdout = CommandRunner.OpenStandardOutput();
                await using (stdout.ConfigureAwait(false))
                {
                    var text = $"# definition sha256: {DefinitionDocument.Sha256(d)}\n" + DefinitionDocument.ToYaml(d);
                    await stdout.WriteAsync(Encoding.UTF8.GetBytes(text), ct).ConfigureAwait(false);
                }
                return ExitCodes.Ok;
            }
            if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("rootfsforge build runs on Linux only");
            BuildComparison? comparison = null;
            if (parse.GetValue(compare) is { } previous)
            {
                try
                {
                    comparison = BuildComparison.Prepare(previous);
                }
                catch (FileNotFoundException e)
                {
                    throw new UsageException(e.Message);
                }
                catch (InvalidDataException e)
                {
                    Console.Error.WriteLine($"rootfsforge: --compare {previous}: {e.Message}");
                    return ExitCodes.BadInput;
                }
            }
            using var disposeComparison = comparison;
            var version = typeof(BuildCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
            try
            {
                var result = await DefinitionBuild.RunAsync(d, new DefinitionBuildOptions
                {
                    OutputDirectory = parse.GetValue(outputDir) ?? Environment.CurrentDirectory,
                    Force = parse.GetValue(force),
                    Push = parse.GetValue(push),
                    CacheDirectory = parse.GetValue(cache),
                    SigningKey = ManifestSignature.ResolveKey(parse.GetValue(keyFile)),
                    ToolVersion = version,
                    Progress = Console.Error.WriteLine,
                    CommandOutput = Console.Error.WriteLine,
                }, ct).ConfigureAwait(false);
                Console.Error.WriteLine(result.UpToDate ? $"{d.Name}: up to date" : $"{d.Name}: built ({result.ManifestPath})");
                if (comparison is not null)
                {
                    var diff = await comparison.CompareAsync(result.ManifestPath, ct).ConfigureAwait(false);
                    await using var stdout = new StreamWriter(CommandRunner.OpenStandardOutput()) { AutoFlush = false };
                    await stdout.WriteLineAsync($"compared with {comparison.ManifestPath}:").ConfigureAwait(false);
                    FlDiffCommand.WriteText(stdout, diff);
                    await stdout.FlushAsync(ct).ConfigureAwait(false);
                }
            }
            catch (InvalidDataException e)
            {
                // A checksum file without the image's line: the input names something that is not there.
                Console.Error.WriteLine($"rootfsforge: {e.Message}");
                return ExitCodes.BadInput;
            }
            catch (NotSupportedException e)
            {
                Console.Error.WriteLine($"rootfsforge: {e.Message}");
                return ExitCodes.Failure;
            }
            return ExitCodes.Ok;
        }));
        return command;
    }
}
