using System.CommandLine;

namespace RootfsForge.Cli;

internal static class Program
{
    private static int Main(string[] args)
    {
        var root = new RootCommand("RootfsForge: read cloud images in-process and build ThreeFold Grid flists.");
        foreach (var command in Commands.All.Create()) root.Subcommands.Add(command);
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            foreach (var error in parse.Errors) Console.Error.WriteLine($"rootfsforge: {error.Message}");
            Console.Error.WriteLine("Try 'rootfsforge --help'.");
            return ExitCodes.Usage;
        }
        return parse.Invoke();
    }
}
