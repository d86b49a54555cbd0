using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Packaging;

/// <summary>
/// `rootfsforge completion bash` sourced into a real bash, completing as bash's programmable completion calls it; and
/// `rootfsforge man` rendered by man(1) without a warning, naming every command `--help` lists.
/// </summary>
public sealed class CompletionAndManTests
{
    /// <summary>The framework-dependent build's apphost, the executable named rootfsforge.</summary>
    private static string Exe => Path.Combine(Path.GetDirectoryName(TestEnvironment.CliDll)!, "rootfsforge");

    [SkippableTheory]
    [InlineData("rootfsforge ex", "extract")]
    [InlineData("rootfsforge fl p", "pack")]
    [InlineData("rootfsforge fl ", "--help -? -h cat diff extract info ls pack verify")]
    [InlineData("rootfsforge extract --q", "--quiet")]
    [InlineData("rootfsforge completion z", "zsh")]
    public void BashCompletionCompletesCommandsAndOptions(string line, string expected)
    {
        TestEnvironment.RequireTool("bash");
        // What bash sets before calling a completion function (COMP_WORDS split at blanks; the word under the cursor last).
        var words = line.Split(' ');
        string script = $"""
            set -e
            eval "$(rootfsforge completion bash)"
            complete -p rootfsforge >/dev/null
            COMP_LINE='{line}'; COMP_POINT=${"{"}#COMP_LINE{"}"}
            COMP_WORDS=({string.Join(' ', words.Select(w => $"'{w}'"))}); COMP_CWORD={words.Length - 1}
            _rootfsforge
            printf '%s\n' "${"{"}COMPREPLY[@]{"}"}"
            """;
        var (code, stdout, stderr) = TestEnvironment.Run("bash", ["-c", script],
            environment: new Dictionary<string, string> { ["PATH"] = $"{Path.GetDirectoryName(Exe)}:{Environment.GetEnvironmentVariable("PATH")}" });
        Assert.True(code == 0, stderr);
        Assert.Equal(expected.Split(' ').Order(StringComparer.Ordinal),
            stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void CompletionScriptsExistForEachShellAndOtherShellsAreRefused()
    {
        Assert.Contains("complete -o default -o bashdefault -F _rootfsforge rootfsforge", TestEnvironment.RunChecked(Exe, ["completion", "bash"]));
        Assert.Contains("compdef _rootfsforge rootfsforge", TestEnvironment.RunChecked(Exe, ["completion", "zsh"]));
        Assert.Contains("complete -c rootfsforge", TestEnvironment.RunChecked(Exe, ["completion", "fish"]));
        var (code, _, stderr) = TestEnvironment.Run(Exe, ["completion", "tcsh"]);
        Assert.Equal(2, code);
        Assert.Contains("tcsh", stderr);
    }

    [SkippableFact]
    public void CompletionScriptsParseInTheirShells()
    {
        var shells = new[] { "zsh", "fish" }.Where(s => TestEnvironment.FindOnPath(s) is not null).ToList();
        Skip.If(shells.Count == 0, "needs zsh or fish on PATH to check their scripts' syntax (bash is checked by running it)");
        foreach (var shell in shells)
        {
            var script = Path.Combine(TestEnvironment.NewTempDir("rff-completion"), "script");
            File.WriteAllText(script, TestEnvironment.RunChecked(Exe, ["completion", shell]));
            var (code, stdout, stderr) = TestEnvironment.Run(shell, ["-n", script]);
            Assert.True(code == 0, $"{shell} -n: {stdout}{stderr}");
        }
    }

    [SkippableFact]
    public void ManPageRendersWithoutWarningsAndCoversEveryCommand()
    {
        TestEnvironment.RequireTool("man");
        var dir = TestEnvironment.NewTempDir("rff-man");
        try
        {
            var page = Path.Combine(dir, "rootfsforge.1");
            File.WriteAllText(page, TestEnvironment.RunChecked(Exe, ["man"]));
            var (code, rendered, warnings) = TestEnvironment.Run("man", ["--warnings", "-l", page],
                environment: new Dictionary<string, string> { ["MANWIDTH"] = "120", ["LC_ALL"] = "C.UTF-8", ["MANPAGER"] = "cat", ["PAGER"] = "cat" });
            Assert.True(code == 0, $"man exited {code}: {warnings}");
            Assert.Equal("", warnings.Trim());
            Assert.StartsWith("ROOTFSFORGE(1)", rendered.TrimStart());

            // The oracle is the help: every command it lists (and each of fl's subcommands) has its section.
            foreach (var command in HelpCommands(TestEnvironment.RunChecked(Exe, ["--help"])).Where(c => c is not "fl"))
                Assert.Contains($"rootfsforge {command} ", rendered);
            foreach (var sub in HelpCommands(TestEnvironment.RunChecked(Exe, ["fl", "--help"])))
                Assert.Contains($"rootfsforge fl {sub} ", rendered);
            Assert.Contains("--partition", rendered);
            Assert.Contains("EXIT STATUS", rendered);
            Assert.DoesNotContain("rootfsforge man", rendered);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>The command names in a help text's "Commands:" section.</summary>
    private static IEnumerable<string> HelpCommands(string help) =>
        help[(help.IndexOf("Commands:", StringComparison.Ordinal) + "Commands:".Length)..]
            .Split('\n').Where(l => l.StartsWith("  ", StringComparison.Ordinal) && l.Trim().Length > 0)
            .Select(l => l.Trim().Split(' ')[0]);
}
