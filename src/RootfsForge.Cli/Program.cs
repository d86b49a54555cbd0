using System.CommandLine;
using System.CommandLine.Completions;
using System.CommandLine.Help;
using RootfsForge.Cli.Commands;

namespace RootfsForge.Cli;

internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        // RootCommand names itself after the executable (rootfsforge, also for `dotnet rootfsforge.dll`) and brings
        // --help, --version and the [suggest:N] directive the completion scripts use (CompletionCommand).
        var root = new RootCommand("RootfsForge: read cloud images in-process and build ThreeFold Grid flists.\n" + ExitCodes.Summary);
        // A Linux tool: no Windows-style /? and /h beside -?, -h and --help (in help, completions and the man page).
        foreach (var help in root.Options.OfType<HelpOption>()) { help.Aliases.Remove("/?"); help.Aliases.Remove("/h"); }
        foreach (var command in Commands.All.Create()) root.Subcommands.Add(command);
        root.Subcommands.Add(CompletionCommand.Create());
        root.Subcommands.Add(ManCommand.Create(root));
        StoreSecrets.AddToStoreCommands(root);
        var parse = root.Parse(args);
        StoreSecrets.Configure(parse);
        bool suggesting = root.Directives.OfType<SuggestDirective>().Any(d => parse.GetResult(d) is not null);
        if (parse.Errors.Count > 0 && !suggesting)
        {
            foreach (var error in parse.Errors) Console.Error.WriteLine($"rootfsforge: {error.Message}");
            Console.Error.WriteLine("Try 'rootfsforge --help'.");
            return ExitCodes.Usage;
        }
        // System.CommandLine's own SIGINT/SIGTERM handling is off: CommandRunner owns the signals (cancel, clean up,
        // exit 130); with both, the parser's handler ended the process (143) or returned 0 before the cleanup ran.
        var invocation = new InvocationConfiguration { ProcessTerminationTimeout = null };
        return await parse.InvokeAsync(invocation).ConfigureAwait(false);
    }
}
