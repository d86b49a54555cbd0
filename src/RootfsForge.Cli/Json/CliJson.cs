using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace RootfsForge.Cli.Json;

/// <summary>
/// The source-generated serializers of every <c>--json</c> document (the CLI is Native AOT: no reflection-based
/// System.Text.Json). A new command adds its result record here with one <c>[JsonSerializable]</c> line and writes it
/// with <see cref="Reporter.Result{T}"/>.
/// </summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(ExtractResult))]
[JsonSerializable(typeof(VmResult))]
[JsonSerializable(typeof(LintCommandResult))]
[JsonSerializable(typeof(FlInfoResult))]
[JsonSerializable(typeof(FlVerifyResult))]
[JsonSerializable(typeof(PushResult))]
[JsonSerializable(typeof(BuildResult))]
[JsonSerializable(typeof(CheckResult))]
[JsonSerializable(typeof(DockerfileResult))]
[JsonSerializable(typeof(KeyResult))]
[JsonSerializable(typeof(Commands.DiffDocument))]
internal sealed partial class CliJson : JsonSerializerContext;

/// <summary>Writes one result document to standard output.</summary>
internal static class JsonResultWriter
{
    /// <summary>The schema name of a command's documents: <c>rootfsforge.COMMAND/v1</c> (docs/cli-json.md §1).</summary>
    public static string Schema(string command) => $"rootfsforge.{command}/v1";

    /// <summary>Serializes <paramref name="value"/> with its generated <paramref name="type"/> info and a final newline.</summary>
    public static void Write<T>(T value, JsonTypeInfo<T> type)
    {
        using var stdout = CommandRunner.OpenStandardOutput();
        JsonSerializer.Serialize(stdout, value, type);
        stdout.Write("\n"u8);
    }
}
