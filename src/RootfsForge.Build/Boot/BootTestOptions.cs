namespace RootfsForge.Boot;

/// <summary>How <see cref="BootTest"/> boots a tree.</summary>
public sealed record BootTestOptions
{
    /// <summary>Give up after this long (TCG is slow: the default is 600 s).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(600);

    /// <summary>Where the serial console log is saved (default: a file in the temporary work directory, reported in the result).</summary>
    public string? ConsoleLog { get; init; }

    /// <summary>The SSH public key put into user-data (default: a key generated for the run with ssh-keygen).</summary>
    public string? SshPublicKey { get; init; }

    /// <summary>Guest memory in MiB (ZOS needs at least 250; default 1024).</summary>
    public int MemoryMiB { get; init; } = 1024;

    /// <summary>The virtiofsd binary (default /usr/lib/qemu/virtiofsd, from Debian's qemu-system-x86).</summary>
    public string Virtiofsd { get; init; } = "/usr/lib/qemu/virtiofsd";

    /// <summary>Progress lines.</summary>
    public Action<string>? Progress { get; init; }
}

/// <summary>How the boot ended.</summary>
/// <param name="Success">True when the guest reached a login prompt or cloud-init wrote the marker.</param>
/// <param name="Reason">What was seen (the matching console line, the failure, or the timeout).</param>
/// <param name="Elapsed">Wall-clock time from starting qemu.</param>
/// <param name="ConsoleLog">The saved serial console log.</param>
public sealed record BootResult(bool Success, string Reason, TimeSpan Elapsed, string ConsoleLog);
