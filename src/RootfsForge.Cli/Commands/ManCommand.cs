using System.CommandLine;
using System.Reflection;
using System.Text;

namespace RootfsForge.Cli.Commands;

/// <summary>
/// <c>rootfsforge man</c> (hidden): writes the manual page rootfsforge(1) in troff (man macros), generated from the same
/// command tree <c>--help</c> shows, so the two cannot disagree: <c>rootfsforge man | man -l -</c>, or
/// <c>rootfsforge man &gt; /usr/local/share/man/man1/rootfsforge.1</c>.
/// </summary>
internal static class ManCommand
{
    public static Command Create(Command root)
    {
        var command = new Command("man", "Print the manual page rootfsforge(1) in troff.") { Hidden = true };
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            output.Write(Render(root));
            output.Flush();
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>The whole page for <paramref name="root"/> and every visible subcommand.</summary>
    internal static string Render(Command root)
    {
        string version = typeof(ManCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
            .Split('+')[0] ?? "";
        var page = new StringBuilder();
        page.Append(".TH ROOTFSFORGE 1 \"\" \"").Append(Escape($"rootfsforge {version}")).Append("\" \"User Commands\"\n");
        page.Append(".SH NAME\n").Append(root.Name).Append(" \\- ").Append(Escape(FirstSentence(root.Description))).Append('\n');
        page.Append(".SH SYNOPSIS\n.B ").Append(root.Name).Append("\n.I COMMAND\n[\\fIOPTIONS\\fR]\n");
        page.Append(".SH DESCRIPTION\n").Append(Text(root.Description)).Append('\n');
        Options(page, root);
        page.Append(".SH COMMANDS\n");
        foreach (var command in root.Subcommands.Where(c => !c.Hidden)) Command(page, command, root.Name);
        page.Append(".SH EXIT STATUS\n");
        ExitStatus(page, ExitCodes.Ok, "Success.");
        ExitStatus(page, ExitCodes.Failure, "A failure that is not the input's fault (writing the output, a failed step, failed lint).");
        ExitStatus(page, ExitCodes.Usage, "A bad command line.");
        ExitStatus(page, ExitCodes.BadInput, "Unsupported or corrupt input; the message names the image, the structure and the offset.");
        ExitStatus(page, ExitCodes.Interrupted, "Interrupted (Ctrl-C, SIGTERM); partial outputs are removed.");
        page.Append(".SH ENVIRONMENT\n");
        page.Append(".TP\n.B RFS_HUB_TOKEN\nThe 0-hub token (instead of \\fB\\-\\-token\\-file\\fR); tokens are never taken from the command line.\n");
        page.Append(".TP\n.B SOURCE_DATE_EPOCH\nClamps modification times in outputs, like \\fB\\-\\-mtime\\-clamp\\fR.\n");
        page.Append(".SH SEE ALSO\n\\fBtar\\fR(1), \\fBqemu\\-img\\fR(1), \\fBmke2fs\\fR(8)\n");
        return page.ToString();
    }

    private static void Command(StringBuilder page, Command command, string parents)
    {
        string name = $"{parents} {command.Name}";
        if (command.Subcommands.Any(c => !c.Hidden))
        {
            foreach (var sub in command.Subcommands.Where(c => !c.Hidden)) Command(page, sub, name);
            return;
        }
        page.Append(".SS \"").Append(Escape(name));
        foreach (var argument in command.Arguments.Where(a => !a.Hidden)) page.Append(' ').Append(Escape(Usage(argument)));
        if (command.Options.Any(o => !o.Hidden)) page.Append(" [OPTIONS]");
        page.Append("\"\n").Append(Text(command.Description)).Append('\n');
        foreach (var argument in command.Arguments.Where(a => !a.Hidden))
            page.Append(".TP\n.I ").Append(Escape(argument.HelpName ?? argument.Name)).Append('\n').Append(Text(argument.Description)).Append('\n');
        Options(page, command);
    }

    private static void Options(StringBuilder page, Command command)
    {
        foreach (var option in command.Options.Where(o => !o.Hidden))
        {
            page.Append(".TP\n");
            // Short names first; the Windows-style /h and /? that --help also accepts are left out of a Unix manual.
            var names = new[] { option.Name }.Concat(option.Aliases).Where(n => n.StartsWith('-'))
                .OrderBy(n => n.StartsWith("--", StringComparison.Ordinal) ? 1 : 0);
            page.Append(string.Join(", ", names.Select(n => $"\\fB{Escape(n)}\\fR")));
            if (option.ValueType != typeof(bool) && option.Arity.MaximumNumberOfValues > 0)
                page.Append(" \\fI").Append(Escape(option.HelpName ?? option.Name.TrimStart('-').ToUpperInvariant())).Append("\\fR");
            page.Append('\n').Append(Text(option.Description)).Append('\n');
        }
    }

    private static string Usage(Argument argument)
    {
        string name = argument.HelpName ?? argument.Name;
        if (argument.Arity.MaximumNumberOfValues > 1) name += "...";
        return argument.Arity.MinimumNumberOfValues == 0 ? $"[{name}]" : name;
    }

    private static void ExitStatus(StringBuilder page, int code, string meaning) =>
        page.Append(".TP\n.B ").Append(code).Append('\n').Append(Escape(meaning)).Append('\n');

    private static string FirstSentence(string? text)
    {
        text ??= "";
        int end = text.IndexOf(". ", StringComparison.Ordinal);
        return (end < 0 ? text : text[..end]).TrimEnd('.');
    }

    /// <summary>A paragraph: escaped, and no line starting with a control character.</summary>
    private static string Text(string? text)
    {
        var lines = Escape(text ?? "").Split('\n').Select(l => l.StartsWith('.') || l.StartsWith('\'') ? "\\&" + l : l);
        return string.Join('\n', lines);
    }

    /// <summary>troff escapes: backslash first, then hyphens (so option names render as minus signs and copy-paste).</summary>
    private static string Escape(string text) => text.Replace("\\", "\\e").Replace("-", "\\-");
}
