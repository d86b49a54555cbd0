namespace RootfsForge.Cli;

/// <summary>The command's exit codes (README documents them).</summary>
internal static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>A failure that is not the input's fault (I/O error writing the output, a failed chroot command, ...).</summary>
    public const int Failure = 1;
    /// <summary>Bad command line.</summary>
    public const int Usage = 2;
    /// <summary>Unsupported or corrupt input, reported in one message naming the image, structure and offset.</summary>
    public const int BadInput = 3;
    /// <summary>Interrupted by Ctrl-C / SIGTERM.</summary>
    public const int Interrupted = 130;
}
