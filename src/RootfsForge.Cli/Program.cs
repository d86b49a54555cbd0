using System.CommandLine;
using System.CommandLine.Help;

namespace RootfsForge.Cli;

internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        // Not RootCommand: its name comes from the entry assembly's file name, and help must say "rootfsforge" however it is run.
        var root = new Command("rootfsforge", "RootfsForge: read cloud images in-process and build ThreeFold Grid flists.")
        {
            new HelpOption(),
            new VersionOption(),
        };
        foreach (var command in Commands.All.Create()) root.Subcommands.Add(command);
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var error in parse.Errors) Console.Error.WriteLine($"rootfsforge: {error.Message}");
            Console.Error.WriteLine("Try 'rootfsforge --help'.");
            return ExitCodes.Usage;
        }
        return await parse.InvokeAsync().ConfigureAwait(false);
    }
}
