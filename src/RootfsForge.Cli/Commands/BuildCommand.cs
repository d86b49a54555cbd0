using System.CommandLine;
using System.Reflection;
using System.Text;
using RootfsForge.Cli.Json;
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
        var outputDir = new Option<string?>("--output-dir", "-O") { Description = "Where the outputs and NAME.build.json go (default: the current directory).", HelpName = "DIR" };
        var push = new Option<bool>("--push") { Description = "Also upload the definition's hub outputs (token from the hub output's token_file, else $RFS_HUB_TOKEN)." };
        var force = new Option<bool>("--force", "-f") { Description = "Rebuild even when NAME.build.json says the outputs are up to date." };
        var print = new Option<bool>("--print") { Description = "Print the resolved definition (recipes applied) as YAML with its hash, and build nothing." };
        var keyFile = new Option<string?>("--signing-key-file")
        {
            Description = $"A file holding the base64 Ed25519 private key that signs the manifest in .fl tags (else ${ManifestSignature.KeyVariable}). Keys are never taken from the command line.",
            HelpName = "FILE",
        };
        var cache = new Option<string?>("--cache")
        {
            Description = "Download and bootstrap cache folder (default: $ROOTFSFORGE_CACHE, else $XDG_CACHE_HOME/rootfsforge, else ~/.cache/rootfsforge).",
            HelpName = "DIR",
        };
        var insecure = new Option<string[]>("--insecure-registry")
        {
            Description = "Allow plain HTTP for this registry when a container definition's image comes from it (repeatable; local registries only).",
            HelpName = "HOST[:PORT]",
        };
        var compare = new Option<string?>("--compare")
        {
            Description = "After building, report which files differ from the build recorded in PREVIOUS.build.json and the bytes of " +
                          "new blocks (both builds need a .fl output; the previous .fl is read before it may be replaced).",
            HelpName = "PREVIOUS.build.json",
        };
        var command = new Command("build", "Build a definition (images/NAME.yaml): fetch and verify the source, apply recipes and steps, write every output and NAME.build.json; nothing when up to date.")
        {
            definition, outputDir, push, force, print, keyFile, cache, insecure, compare,
        };
        var listChanged = new BuildListChanged();
        listChanged.AddTo(command);
        var report = new ReportOptions(schema: "build-result");
        report.AddTo(command);
        command.SetAction((parse, _) => CommandRunner.RunAsync(async ct =>
        {
            var r = report.Get(parse);
            // Both write their own answer on standard output, where the document would go.
            if (r.Json && (parse.GetValue(print) || parse.GetValue(listChanged.ListChanged)))
                throw new UsageException("--json cannot be combined with --print or --list-changed: they write their own output on standard output");
            if (listChanged.Requested(parse)) return await listChanged.RunAsync(parse, parse.GetValue(definition), r, ct).ConfigureAwait(false);
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
            string definitionPath = parse.GetValue(definition)!;
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var steps = VmSteps.Lines(r);
            try
            {
                var result = await DefinitionBuild.RunAsync(d, new DefinitionBuildOptions
                {
                    OutputDirectory = parse.GetValue(outputDir) ?? Environment.CurrentDirectory,
                    Force = parse.GetValue(force),
                    Push = parse.GetValue(push),
                    CacheDirectory = parse.GetValue(cache),
                    InsecureRegistries = parse.GetValue(insecure) ?? [],
                    SigningKey = ManifestSignature.ResolveKey(parse.GetValue(keyFile)),
                    ToolVersion = version,
                    // As vm: step lines normally, their indented detail with -v, nothing with -q; the input's warnings
                    // (VmInputs writes them as "warning: …" lines) as warnings, kept for the document.
                    Progress = line =>
                    {
                        if (line.StartsWith("warning: ", StringComparison.Ordinal)) r.Warning(line["warning: ".Length..]);
                        else steps(line);
                    },
                    CommandOutput = r.Quiet ? null : Console.Error.WriteLine,
                }, ct).ConfigureAwait(false);
                if (comparison is not null)
                {
                    // The comparison is text for a reviewer: on standard output, or beside the document (stderr) with --json.
                    var diff = await comparison.CompareAsync(result.ManifestPath, ct).ConfigureAwait(false);
                    var into = r.Json ? Console.Error : null;
                    await using var stdout = into is null ? new StreamWriter(CommandRunner.OpenStandardOutput()) { AutoFlush = false } : null;
                    var w = (TextWriter?)stdout ?? into!;
                    await w.WriteLineAsync($"compared with {comparison.ManifestPath}:").ConfigureAwait(false);
                    FlDiffCommand.WriteText(w, diff);
                    await w.FlushAsync(ct).ConfigureAwait(false);
                }
                r.Info(result.UpToDate ? $"{d.Name}: up to date" : $"{d.Name}: built ({result.ManifestPath})");
                r.Result(Document(definitionPath, d, result, clock.Elapsed, r, null, null), CliJson.Default.BuildResult);
            }
            catch (RootfsForge.Vm.LintFailedException e) when (r.Json)
            {
                r.Result(Document(definitionPath, d, null, clock.Elapsed, r, e.Report, e.Message), CliJson.Default.BuildResult);
                throw;
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

    /// <summary>The <c>rootfsforge.build-result/v1</c> document of a finished build, or of one the lint stopped (<paramref name="result"/> null).</summary>
    private static BuildResult Document(string path, ImageDefinition d, DefinitionBuildResult? result, TimeSpan elapsed, Reporter r,
        RootfsForge.Lint.LintReport? lint, string? error)
    {
        var m = result?.Manifest;
        string? outDir = result is null ? null : Path.GetDirectoryName(result.ManifestPath);
        var outputs = m?.Outputs.Select(o => new BuildOutputResult(o.Kind,
            o.Path.StartsWith("hub:", StringComparison.Ordinal) || outDir is null ? o.Path : Path.Combine(outDir, o.Path), o.Sha256, o.Bytes, o.Blocks)).ToList() ?? [];
        string status = result is null ? "lint-failed" : result.UpToDate ? "up-to-date" : "built";
        return new BuildResult(JsonResultWriter.Schema("build-result"), path, d.Name, status, result?.ManifestPath,
            m?.DefinitionSha256 ?? DefinitionDocument.Sha256(d), m is null ? null : new BuildSourceResult(m.Source.Type, m.Source.Reference, m.Source.Digest),
            m?.Kernel, outputs, lint is null ? null : Results.Lint(lint), Results.Seconds(elapsed), r.Warnings,
            error is null ? null : RootfsForge.Tree.TreePath.Printable(error));
    }
}
