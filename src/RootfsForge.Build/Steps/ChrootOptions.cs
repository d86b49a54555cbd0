namespace RootfsForge.Steps;

/// <summary>How a <see cref="ChrootSession"/> is set up and where its output goes.</summary>
internal sealed record ChrootOptions
{
    /// <summary>Receives every output line of the commands, already prefixed.</summary>
    public Action<string>? Output { get; init; }

    /// <summary>Receives the session's own progress and warnings (mounts, restores).</summary>
    public Action<string>? Log { get; init; }

    /// <summary>The host file copied in as the temporary /etc/resolv.conf (default: the host's, or systemd-resolved's upstream list).</summary>
    public string? ResolvConf { get; init; }

    /// <summary>Install a policy-rc.d returning 101 so package scripts do not start services (Debian/Ubuntu). Default true.</summary>
    public bool BlockServiceStarts { get; init; } = true;

    /// <summary>Variables added to every command's environment (e.g. SOURCE_DATE_EPOCH); a call's own variables win.</summary>
    public IReadOnlyDictionary<string, string>? Environment { get; init; }
}
