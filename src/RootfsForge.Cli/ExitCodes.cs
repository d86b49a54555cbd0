namespace RootfsForge.Cli;

/// <summary>The command's exit codes (README's table and the root help, <see cref="Summary"/>, list them).</summary>
internal static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>A failure that is not the input's fault (I/O error writing the output, a failed chroot command, ...).</summary>
    public const int Failure = 1;
    /// <summary>
    /// A check's answer is no (same value as <see cref="Failure"/>, like diff(1)): the trees differ (fl diff), the flist
    /// drifted from its definition (check), its manifest is missing, unsigned or not signed by the given key
    /// (fl verify --signed-by, check --signed-by).
    /// </summary>
    public const int Differs = 1;
    /// <summary>Bad command line.</summary>
    public const int Usage = 2;
    /// <summary>Unsupported or corrupt input, reported in one message naming the image, structure and offset.</summary>
    public const int BadInput = 3;
    /// <summary>
    /// The ZOS VM lint found errors (<c>lint</c>, or <c>vm</c> before writing anything): the tree is not fit to boot, though
    /// every step worked. Distinct from <see cref="Failure"/> so CI can tell a bad tree from a broken run.
    /// </summary>
    public const int LintFailed = 4;
    /// <summary>Interrupted by Ctrl-C / SIGTERM.</summary>
    public const int Interrupted = 130;

    /// <summary>The exit codes as the root command's help shows them.</summary>
    public const string Summary = "Exit codes: 0 ok, 1 failure (I/O, network, a failed command), 2 usage error, " +
                                  "3 unsupported or corrupt input, 4 lint failed, 130 interrupted.";
}
