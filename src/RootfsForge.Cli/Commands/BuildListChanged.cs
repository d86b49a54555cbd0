using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization;
using RootfsForge.Definitions;

namespace RootfsForge.Cli.Commands;

/// <summary>
/// <c>build --list-changed [--since REF] [DIR]</c>: prints the GitHub Actions matrix of the definitions a change affects
/// (<see cref="ChangedDefinitions"/>), one JSON line <c>{"include":[{"name":…,"definition":…}]}</c>, and builds nothing.
/// </summary>
internal sealed class BuildListChanged
{
    public Option<bool> ListChanged { get; } = new("--list-changed")
    {
        Description = "Print the JSON build matrix of the definitions in images/ that changed since --since (all without it), and build nothing. " +
                      "DEFINITION, when given, is a folder inside the repository (default: the current directory).",
    };

    public Option<string?> Since { get; } = new("--since")
    {
        Description = "With --list-changed: the git commit to compare with (an all-zero or unknown id lists every definition).", HelpName = "REF",
    };

    public void AddTo(Command command)
    {
        command.Options.Add(ListChanged);
        command.Options.Add(Since);
    }

    /// <summary>True when the command line asks for the list (then <see cref="RunAsync"/> runs instead of a build).</summary>
    public bool Requested(ParseResult parse)
    {
        if (parse.GetValue(ListChanged)) return true;
        if (parse.GetValue(Since) is not null) throw new UsageException("--since goes with --list-changed");
        return false;
    }

    public async Task<int> RunAsync(ParseResult parse, string? directory, Reporter r, CancellationToken ct)
    {
        string dir = directory ?? Environment.CurrentDirectory;
        if (!Directory.Exists(dir)) throw new UsageException($"--list-changed: '{dir}' is not a folder in a git repository");
        var list = await ChangedDefinitions.ListAsync(dir, parse.GetValue(Since), ct).ConfigureAwait(false);
        Console.WriteLine(JsonSerializer.Serialize(new BuildMatrix(list), BuildMatrixJson.Default.BuildMatrix));
        r.Info($"rootfsforge: {list.Count} definition(s) to build");
        return ExitCodes.Ok;
    }
}

/// <summary>The matrix GitHub Actions reads with fromJSON: <c>strategy.matrix: ${{ fromJSON(…) }}</c>.</summary>
internal sealed record BuildMatrix(IReadOnlyList<ChangedDefinition> Include);

/// <summary>Source-generated (AOT-safe) JSON for <see cref="BuildMatrix"/>.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(BuildMatrix))]
internal sealed partial class BuildMatrixJson : JsonSerializerContext;
