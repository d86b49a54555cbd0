using System.CommandLine;
using System.Text.Json.Serialization.Metadata;
using RootfsForge.Cli.Json;
using RootfsForge.Sinks;
using RootfsForge.Tree;

namespace RootfsForge.Cli;

/// <summary>
/// <c>--json</c>, <c>--quiet/-q</c> and <c>--verbose/-v</c>, the same on every command. A command adds them with
/// <see cref="AddTo"/> and reads them once with <see cref="Get"/>.
/// </summary>
internal sealed class ReportOptions
{
    private readonly bool _json;

    /// <param name="json">Whether the command writes a <c>--json</c> document.</param>
    /// <param name="schema">The document's schema name (<c>rootfsforge.SCHEMA/v1</c>) for the help; null: several or generic.</param>
    public ReportOptions(bool json = true, string? schema = null)
    {
        _json = json;
        Json = new Option<bool>("--json")
        {
            Description = $"Write one JSON document with the result on standard output (schema rootfsforge.{schema ?? "COMMAND"}/v1, " +
                          "docs/cli-json.md); messages stay on standard error.",
        };
    }

    public Option<bool> Json { get; }

    public Option<bool> Quiet { get; } = new("--quiet", "-q") { Description = "No progress, warnings or summary on standard error (errors still)." };

    public Option<bool> Verbose { get; } = new("--verbose", "-v") { Description = "Also print the detail of each step on standard error." };

    public void AddTo(Command command)
    {
        if (_json) command.Options.Add(Json);
        command.Options.Add(Quiet);
        command.Options.Add(Verbose);
    }

    /// <summary>The reporter for this run; <c>-q</c> with <c>-v</c> is a usage error.</summary>
    public Reporter Get(ParseResult parse)
    {
        bool quiet = parse.GetValue(Quiet), verbose = parse.GetValue(Verbose);
        if (quiet && verbose) throw new UsageException("--quiet and --verbose exclude each other");
        return new Reporter(quiet, verbose, _json && parse.GetValue(Json));
    }
}

/// <summary>
/// Where a command's messages go: warnings, the summary and step detail on standard error (as <c>-q</c>/<c>-v</c>
/// allow), progress through the one <see cref="ProgressPrinter"/>, and the <c>--json</c> document on standard output.
/// </summary>
internal sealed class Reporter(bool quiet, bool verbose, bool json)
{
    private readonly List<string> _warnings = [];

    public bool Quiet => quiet;

    public bool Verbose => verbose;

    public bool Json => json;

    /// <summary>Every warning reported so far (printed or not), for the JSON document.</summary>
    public IReadOnlyList<string> Warnings => _warnings;

    /// <summary>A warning: kept for the document and printed unless quiet (control characters shown escaped).</summary>
    public void Warning(string message)
    {
        message = TreePath.Printable(message);
        lock (_warnings) _warnings.Add(message);
        if (!quiet) Console.Error.WriteLine($"rootfsforge: warning: {message}");
    }

    /// <summary>Warnings of a source or sink, in order.</summary>
    public void WarnAll(IEnumerable<string> messages)
    {
        foreach (var m in messages) Warning(m);
    }

    /// <summary>A summary or status line, unless quiet.</summary>
    public void Info(string message)
    {
        if (!quiet) Console.Error.WriteLine(message);
    }

    /// <summary>Step detail, only with <c>-v</c>.</summary>
    public void Detail(string message)
    {
        if (verbose) Console.Error.WriteLine(message);
    }

    /// <summary>The progress display for a copy of about <paramref name="expectedBytes"/> content bytes (0: unknown).</summary>
    public ProgressPrinter Progress(long expectedBytes) => new(ProgressPrinter.ModeFor(quiet), expectedBytes);

    /// <summary>
    /// This reporter without its default messages: warnings are kept (for the document) but printed only with -v. For
    /// commands whose standard output is the data (ls, cat) or a document (inspect --json).
    /// </summary>
    public Reporter DetailOnly() => new(quiet: !verbose, verbose, json);

    /// <summary>Refuses (exit 2) <c>--json</c> with a tar on standard output: both would need standard output.</summary>
    public void CheckOutput(OutputSpec spec)
    {
        if (json && spec.Kind == OutputKind.StandardOutput)
            throw new UsageException("--json writes its document on standard output: it cannot be combined with -o -");
    }

    /// <summary>
    /// Writes the command's result document when <c>--json</c> was given (one call per run; the type is registered in
    /// <see cref="CliJson"/>).
    /// </summary>
    public void Result<T>(T value, JsonTypeInfo<T> type)
    {
        if (json) JsonResultWriter.Write(value, type);
    }
}
