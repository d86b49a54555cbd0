namespace RootfsForge.Steps;

/// <summary>
/// A definition file (<c>kernels/*.yaml</c>) is not valid: bad YAML, an unknown key, a value of the wrong type, a
/// missing key. The message starts with <c>file:line:column</c> of the offending node.
/// </summary>
public sealed class DefinitionFormatException : FormatException
{
    internal DefinitionFormatException(string file, long line, long column, string reason)
        : base($"{file}:{line}:{column}: {reason}")
    {
        File = file;
        Line = line;
        Column = column;
        Reason = reason;
    }

    /// <summary>The file (a path, or <c>kernels/NAME.yaml</c> for an embedded definition).</summary>
    public string File { get; }

    /// <summary>The line of the offending node, from 1.</summary>
    public long Line { get; }

    /// <summary>The column of the offending node, from 1.</summary>
    public long Column { get; }

    /// <summary>What is wrong, without the location.</summary>
    public string Reason { get; }
}
