using System.CommandLine;

namespace RootfsForge.Cli.Commands;

/// <summary>Every top-level command, in the order `--help` lists them.</summary>
internal static class All
{
    public static IEnumerable<Command> Create() =>
    [
        InspectCommand.Create(),
        LsCommand.Create(),
        CatCommand.Create(),
        ExtractCommand.Create(),
        ContainerCommand.Create(),
        VmCommand.Create(),
        BuildCommand.Create(),
        CheckCommand.Create(),
        DockerfileCommand.Create(),
        LintCommand.Create(),
        BootCommand.Create(),
        FlCommand.Create(),
        PushCommand.Create(),
        KeyCommand.Create(),
    ];
}
