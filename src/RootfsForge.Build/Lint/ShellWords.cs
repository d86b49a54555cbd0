using System.Text;

namespace RootfsForge.Lint;

/// <summary>
/// Splits a command line into words the way zinit does before it runs a unit's <c>exec</c> (POSIX shell quoting, as
/// Rust's <c>shlex::split</c>): blanks separate words; single quotes keep everything up to the next one; inside double
/// quotes a backslash escapes only <c>$ ` " \</c> and a newline; outside quotes a backslash escapes any character; a
/// <c>#</c> that starts a word starts a comment. No expansions of any kind (no shell runs).
/// </summary>
internal static class ShellWords
{
    /// <summary>The words of <paramref name="command"/>, or null when a quote is left open or it ends in a lone backslash.</summary>
    public static IReadOnlyList<string>? Split(string command)
    {
        ArgumentNullException.ThrowIfNull(command);
        var words = new List<string>();
        var word = new StringBuilder();
        bool inWord = false;
        for (int i = 0; i < command.Length; i++)
        {
            char c = command[i];
            if (c is ' ' or '\t' or '\n' or '\r')
            {
                if (inWord) words.Add(word.ToString());
                word.Clear();
                inWord = false;
                continue;
            }
            if (c == '#' && !inWord)
            {
                int newline = command.IndexOf('\n', i);
                if (newline < 0) break;
                i = newline;
                continue;
            }
            inWord = true;
            switch (c)
            {
                case '\\':
                    if (++i == command.Length) return null;
                    if (command[i] != '\n') word.Append(command[i]); // backslash-newline joins lines
                    break;
                case '\'':
                {
                    int end = command.IndexOf('\'', i + 1);
                    if (end < 0) return null;
                    word.Append(command, i + 1, end - i - 1);
                    i = end;
                    break;
                }
                case '"':
                    for (i++; ; i++)
                    {
                        if (i == command.Length) return null;
                        char d = command[i];
                        if (d == '"') break;
                        if (d == '\\' && i + 1 < command.Length && command[i + 1] is '$' or '`' or '"' or '\\' or '\n')
                        {
                            if (command[++i] != '\n') word.Append(command[i]);
                            continue;
                        }
                        word.Append(d);
                    }
                    break;
                default:
                    word.Append(c);
                    break;
            }
        }
        if (inWord) words.Add(word.ToString());
        return words;
    }
}
