using System.CommandLine;
using RootfsForge.Definitions;
using RootfsForge.Steps;

namespace RootfsForge.Cli.Commands;

/// <summary><c>rootfsforge dockerfile images/NAME.yaml -o DIR</c>: a Docker build context from a container definition.</summary>
internal static class DockerfileCommand
{
    public static Command Create()
    {
        var definition = new Argument<string>("DEFINITION") { Description = "A kind: container definition (images/NAME.yaml)." };
        var output = new Option<string>("--output", "-o") { Description = "The folder to write: one that does not exist or is empty.", Required = true, HelpName = "DIR" };
        var command = new Command("dockerfile", "Render a container definition as a Dockerfile with the files, scripts and zinit services it copies " +
            "(FROM the definition's image; override with --build-arg BASE=…).") { definition, output };
        var report = new ReportOptions(schema: "dockerfile");
        report.AddTo(command);
        command.SetAction((parse, _) => CommandRunner.RunAsync(ct =>
        {
            var r = report.Get(parse);
            ImageDefinition d;
            try
            {
                d = DefinitionLoader.Load(parse.GetValue(definition)!);
            }
            catch (DefinitionFormatException e)
            {
                Console.Error.WriteLine($"rootfsforge: {e.Message}");
                return Task.FromResult(ExitCodes.BadInput);
            }
            catch (FileNotFoundException e)
            {
                throw new UsageException(e.Message);
            }
            string dir = parse.GetValue(output)!;
            try
            {
                DockerfileRenderer.Render(d, dir);
            }
            catch (ArgumentException e)
            {
                throw UsageException.From(e);
            }
            string full = Path.GetFullPath(dir);
            var files = Directory.EnumerateFiles(full, "*", SearchOption.AllDirectories)
                .Select(f => Path.GetRelativePath(full, f)).Order(StringComparer.Ordinal).ToList();
            foreach (var f in files) r.Detail($"rootfsforge: wrote {Path.Combine(dir, f)}");
            r.Info($"rootfsforge: {Path.Combine(dir, "Dockerfile")} written ({files.Count} files)");
            r.Result(new Json.DockerfileResult(Json.JsonResultWriter.Schema("dockerfile"), parse.GetValue(definition)!, d.Name, full,
                Path.Combine(full, "Dockerfile"), files), Json.CliJson.Default.DockerfileResult);
            return Task.FromResult(ExitCodes.Ok);
        }));
        return command;
    }
}
