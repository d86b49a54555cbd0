namespace RootfsForge.Steps;

/// <summary>How a <see cref="ChrootSession"/> prepares the tree and reports what runs in it.</summary>
public sealed class ChrootOptions
{
    /// <summary>Receives every stdout/stderr line of the commands, already prefixed (e.g. <c>[apt] ...</c>).</summary>
    public Action<string>? Output { get; init; }

    /// <summary>Receives the session's own progress and warnings (mounts, restores).</summary>
    public Action<string>? Log { get; init; }

    /// <summary>The host file copied in as the temporary /etc/resolv.conf (default: the host's, or systemd-resolved's upstream list).</summary>
    public string? ResolvConf { get; init; }

    /// <summary>Install a policy-rc.d returning 101 so package scripts do not start services (Debian/Ubuntu). Default true.</summary>
    public bool BlockServiceStarts { get; init; } = true;
}

/// <summary>A command run inside the chroot exited with a non-zero status.</summary>
public sealed class ChrootCommandException(string command, int exitCode)
    : InvalidOperationException($"command in chroot failed with exit code {exitCode}: {command}")
{
    /// <summary>The command line.</summary>
    public string Command { get; } = command;

    /// <summary>Its exit status.</summary>
    public int ExitCode { get; } = exitCode;
}
