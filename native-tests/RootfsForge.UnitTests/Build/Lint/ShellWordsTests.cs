using RootfsForge.Lint;
using Xunit;

namespace RootfsForge.NativeTests.Lint;

/// <summary>
/// <see cref="ShellWords"/>, the splitting zinit applies to a unit's <c>exec</c> (POSIX quoting as Rust's
/// <c>shlex::split</c>): the expectations are what a POSIX shell makes of the same words without expansions.
/// </summary>
public class ShellWordsTests
{
    [Theory]
    [InlineData("/usr/bin/redis-server --port 6379", new[] { "/usr/bin/redis-server", "--port", "6379" })]
    [InlineData("  sh\t-c  'echo \"a b\"; exit 1'  ", new[] { "sh", "-c", "echo \"a b\"; exit 1" })]
    [InlineData("\"/opt/my app/run\" --x=\"1 2\"", new[] { "/opt/my app/run", "--x=1 2" })]
    [InlineData("a\\ b c", new[] { "a b", "c" })]
    [InlineData("\"a \\\"q\\\" \\$HOME \\n\"", new[] { "a \"q\" $HOME \\n" })] // in double quotes \n stays as is
    [InlineData("'it''s'", new[] { "its" })]
    [InlineData("x'y'\"z\"", new[] { "xyz" })]
    [InlineData("run # a comment", new[] { "run" })]
    [InlineData("run a#b", new[] { "run", "a#b" })]
    [InlineData("# only a comment\nprog arg", new[] { "prog", "arg" })]
    [InlineData("''", new[] { "" })]
    [InlineData("", new string[0])]
    [InlineData("   ", new string[0])]
    public void Splits(string command, string[] expected) => Assert.Equal(expected, ShellWords.Split(command));

    [Theory]
    [InlineData("sh -c 'unclosed")]
    [InlineData("\"unclosed")]
    [InlineData("ends in \\")]
    public void UnbalancedIsNull(string command) => Assert.Null(ShellWords.Split(command));
}
