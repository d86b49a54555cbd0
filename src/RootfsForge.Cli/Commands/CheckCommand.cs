using System.CommandLine;
using System.Reflection;
using RootfsForge.Cli.Json;
using RootfsForge.Definitions;
using RootfsForge.Hub;
using RootfsForge.Steps;
using RootfsForge.Sources.Flist;

namespace RootfsForge.Cli.Commands;

/// <summary>
/// <c>rootfsforge check images/NAME.yaml --against X.fl|hub:USER/NAME.fl</c>: does the published flist match the
/// definition? Read from the manifest in the .fl's tags, nothing rebuilt. Exit 0 match, 1 drift (or a manifest missing,
/// or not signed by --signed-by), 2 usage, 3 a definition or flist that cannot be read.
/// </summary>
internal static class CheckCommand
{
    public static Command Create()
    {
        var definition = new Argument<string>("DEFINITION") { Description = "The definition: images/NAME.yaml." };
        var against = new Option<string>("--against")
        {
            Description = "The published flist: a .fl file, or hub:USER/NAME.fl (downloaded from --hub).", Required = true, HelpName = "FLIST",
        };
        var hub = new Option<string?>("--hub") { Description = "The 0-hub's base URL for --against hub:USER/NAME.fl (default: $RFS_HUB_URL).", HelpName = "URL" };
        var signedBy = SigningOptions.SignedBy();
        var anyVersion = new Option<bool>("--any-version") { Description = "Do not count a flist built by another RootfsForge version as drift." };
        var cache = new Option<string?>("--cache")
        {
            Description = "Download cache folder for a sha256sums file (default: $ROOTFSFORGE_CACHE, else $XDG_CACHE_HOME/rootfsforge, else ~/.cache/rootfsforge).",
            HelpName = "DIR",
        };
        var command = new Command("check", "Check a published flist against its definition from the build manifest in its tags " +
            "(definition hash, source digest, tool release; the manifest's tree digest against the flist's), without rebuilding; exit 0 match, 1 drift.")
        {
            definition, against, hub, signedBy, anyVersion, cache,
        };
        var report = new ReportOptions(schema: "check");
        report.AddTo(command);
        command.SetAction((parse, _) => CommandRunner.RunAsync(async ct =>
        {
            var r = report.Get(parse);
            string? trusted = SigningOptions.ReadPublicKey(parse, signedBy);
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
            string target = parse.GetValue(against)!;
            string? temp = null;
            try
            {
                string fl = target;
                if (target.StartsWith("hub:", StringComparison.Ordinal))
                {
                    var (user, name) = ParseHubTarget(target);
                    string hubUrl = parse.GetValue(hub) ?? Environment.GetEnvironmentVariable("RFS_HUB_URL")
                        ?? throw new UsageException($"--against {target} needs --hub URL (or RFS_HUB_URL)");
                    if (!Uri.TryCreate(hubUrl.EndsWith('/') ? hubUrl : hubUrl + "/", UriKind.Absolute, out var hubUri)
                        || hubUri.Scheme is not ("http" or "https"))
                        throw new UsageException($"--hub '{hubUrl}' is not an http(s) URL");
                    temp = Directory.CreateTempSubdirectory("rootfsforge-check-").FullName;
                    fl = Path.Combine(temp, name);
                    await HubFlistDownload.DownloadAsync(hubUri, user, name, fl, ct).ConfigureAwait(false);
                }
                else if (!File.Exists(target)) throw new UsageException($"--against {target}: no such file");

                FlistManifestReading reading;
                await using (var source = FlistSource.Open(fl))
                    reading = FlistManifest.Read(source.GetInfo().Tags, trusted, RootfsForge.Flist.FlistTreeDigest.Of(fl));
                string definitionPath = parse.GetValue(definition)!;
                if (reading.Manifest is null)
                {
                    Console.Error.WriteLine($"rootfsforge: {target}: {reading.Problem}");
                    Answer(r, $"{d.Name}: drift: {target} has no build manifest to check");
                    r.Result(new CheckResult(JsonResultWriter.Schema("check"), definitionPath, d.Name, target, false, null, [],
                        trusted is null ? null : reading.Problem, reading.Problem), CliJson.Default.CheckResult);
                    return ExitCodes.Differs;
                }
                bool signatureOk = trusted is null || SigningOptions.Report(reading, r);
                var version = typeof(CheckCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
                var expected = await DefinitionCheck.ExpectedAsync(d, version, parse.GetValue(cache), ct).ConfigureAwait(false);
                var drift = DefinitionCheck.Compare(expected, reading.Manifest, compareVersion: !parse.GetValue(anyVersion));
                foreach (var x in drift)
                    Answer(r, $"{d.Name}: drift: {x.Field}: the definition gives {x.Expected}, {target} has {x.Published}");
                // The manifest describes another tree than this flist's: changed after the build, or tags copied from another.
                bool treeOk = reading.TreeMatches != false;
                if (!treeOk)
                    Answer(r, $"{d.Name}: drift: tree: {target}'s tree is not the one its manifest was written for (docs/flist-format.md §13)");
                if (drift.Count == 0 && treeOk)
                    Answer(r, $"{d.Name}: {target} matches the definition (sha256 {expected.DefinitionSha256})");
                bool match = drift.Count == 0 && treeOk && signatureOk;
                var drifts = drift.Select(x => new DriftResult(x.Field, x.Expected, x.Published)).ToList();
                if (!treeOk) drifts.Add(new DriftResult("tree", "the tree digest in the manifest's tags", "another tree"));
                r.Result(new CheckResult(JsonResultWriter.Schema("check"), definitionPath, d.Name, target, match, expected.DefinitionSha256,
                    drifts, trusted is null ? null : signatureOk ? "valid" : reading.Problem, null), CliJson.Default.CheckResult);
                return match ? ExitCodes.Ok : ExitCodes.Differs;
            }
            finally
            {
                if (temp is not null) Directory.Delete(temp, recursive: true);
            }
        }));
        return command;
    }

    /// <summary>An answer line: on standard output, or with --json (the document is the answer) on standard error unless -q.</summary>
    private static void Answer(Reporter r, string line)
    {
        if (r.Json) r.Info(line);
        else Console.WriteLine(line);
    }

    /// <summary>hub:USER/NAME → (USER, NAME).</summary>
    private static (string User, string Name) ParseHubTarget(string target)
    {
        var parts = target["hub:".Length..].Split('/');
        if (parts.Length != 2 || parts[0].Length == 0 || parts[1].Length == 0 || parts.Any(p => p is "." or ".."))
            throw new UsageException($"--against {target}: expected hub:USER/NAME.fl");
        return (parts[0], parts[1]);
    }
}
