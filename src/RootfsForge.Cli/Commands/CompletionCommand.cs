using System.CommandLine;

namespace RootfsForge.Cli.Commands;

/// <summary>
/// <c>rootfsforge completion bash|zsh|fish</c>: prints a shell completion script. Each script asks the command itself
/// through System.CommandLine's <c>[suggest:POSITION]</c> directive (<c>rootfsforge "[suggest:14]" "rootfsforge ex"</c>
/// prints <c>extract</c>), so completions always match the installed version; where it has nothing to offer (an image
/// path), the shell completes file names. No <c>dotnet-suggest</c> is needed.
/// </summary>
internal static class CompletionCommand
{
    public static Command Create()
    {
        var shell = new Argument<string>("SHELL") { Description = "bash, zsh or fish." };
        shell.AcceptOnlyFromAmong("bash", "zsh", "fish");
        var command = new Command("completion", "Print a shell completion script (bash: eval \"$(rootfsforge completion bash)\").") { shell };
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            output.Write(parse.GetValue(shell) switch
            {
                "bash" => Bash,
                "zsh" => Zsh,
                _ => Fish,
            });
            output.Flush();
            return ExitCodes.Ok;
        });
        return command;
    }

    // COMP_LINE/COMP_POINT are the whole line and the cursor's offset in it, which is what the directive takes.
    private const string Bash = """
        # bash completion for rootfsforge.
        # Load it with: eval "$(rootfsforge completion bash)"
        # or save it:   rootfsforge completion bash > /usr/share/bash-completion/completions/rootfsforge
        _rootfsforge() {
            local IFS=$'\n' suggestions
            suggestions=$("${COMP_WORDS[0]}" "[suggest:${COMP_POINT}]" "${COMP_LINE}" 2>/dev/null) || return 0
            COMPREPLY=($(compgen -W "${suggestions}" -- "${COMP_WORDS[COMP_CWORD]}"))
        }
        complete -o default -o bashdefault -F _rootfsforge rootfsforge

        """;

    private const string Zsh = """
        #compdef rootfsforge
        # zsh completion for rootfsforge.
        # Load it with: eval "$(rootfsforge completion zsh)"  (after compinit)
        # or save it as _rootfsforge in a directory of $fpath.
        _rootfsforge() {
            local -a suggestions
            suggestions=("${(@f)$("${words[1]}" "[suggest:${CURSOR}]" "${BUFFER}" 2>/dev/null)}")
            suggestions=(${suggestions:#})
            if (( ${#suggestions} )); then
                compadd -a suggestions
            else
                _files
            fi
        }
        compdef _rootfsforge rootfsforge

        """;

    private const string Fish = """
        # fish completion for rootfsforge.
        # Load it with: rootfsforge completion fish | source
        # or save it:   rootfsforge completion fish > ~/.config/fish/completions/rootfsforge.fish
        function __rootfsforge_complete
            set -l line (commandline -cp)
            set -l suggestions (rootfsforge "[suggest:"(string length -- "$line")"]" "$line" 2>/dev/null)
            if test (count $suggestions) -gt 0
                printf '%s\n' $suggestions
            else
                __fish_complete_path (commandline -ct)
            end
        end
        complete -c rootfsforge -f -a '(__rootfsforge_complete)'

        """;
}
