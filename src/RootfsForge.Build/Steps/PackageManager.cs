
namespace RootfsForge.Steps;

/// <summary>The package manager families the steps drive.</summary>
internal enum PackageManagerKind
{
    /// <summary>Debian, Ubuntu: apt-get over dpkg.</summary>
    Apt,
    /// <summary>Fedora, RHEL 8+: dnf.</summary>
    Dnf,
    /// <summary>RHEL/CentOS 7: yum.</summary>
    Yum,
    /// <summary>Alpine: apk.</summary>
    Apk,
}

/// <summary>
/// The image's own package manager, detected from the tree, driven non-interactively inside a <see cref="ChrootSession"/>.
/// Its metadata is refreshed once before the first install.
/// </summary>
internal sealed class PackageManager
{
    private bool _refreshed;

    private PackageManager(PackageManagerKind kind) => Kind = kind;

    /// <summary>Which manager this is.</summary>
    public PackageManagerKind Kind { get; }

    /// <summary>Detects the manager from the tree (apt: /usr/bin/apt-get and /var/lib/dpkg; dnf; yum; apk); null when none.</summary>
    public static PackageManager? Detect(string root)
    {
        using var tree = new StagingRoot(root);
        return Detect(tree);
    }

    internal static PackageManager? Detect(StagingRoot tree)
    {
        bool IsFile(string p) => tree.Stat(p) is { IsRegular: true };
        if (IsFile("usr/bin/apt-get") && tree.Stat("var/lib/dpkg") is { IsDirectory: true }) return new(PackageManagerKind.Apt);
        if (IsFile("usr/bin/dnf") || IsFile("usr/bin/dnf5") || IsFile("usr/bin/dnf-3")) return new(PackageManagerKind.Dnf);
        if (IsFile("usr/bin/yum")) return new(PackageManagerKind.Yum);
        if (IsFile("sbin/apk") || IsFile("usr/bin/apk")) return new(PackageManagerKind.Apk);
        return null;
    }

    /// <summary>Refreshes the package metadata (apt-get update, dnf makecache, apk update).</summary>
    public async Task RefreshAsync(ChrootSession session, CancellationToken cancellationToken)
    {
        var argv = Kind switch
        {
            PackageManagerKind.Apt => new[] { "apt-get", "update", "-q" },
            PackageManagerKind.Dnf => ["dnf", "-y", "makecache"],
            PackageManagerKind.Yum => ["yum", "-y", "makecache"],
            _ => ["apk", "update"],
        };
        await session.RunAsync(argv, Prefix, cancellationToken).ConfigureAwait(false);
        _refreshed = true;
    }

    /// <summary>Installs packages (refreshing metadata first if not done yet); no recommends/weak dependencies.</summary>
    public async Task InstallAsync(ChrootSession session, IReadOnlyList<string> packages, CancellationToken cancellationToken)
    {
        if (packages.Count == 0) return;
        Validate(packages);
        if (!_refreshed) await RefreshAsync(session, cancellationToken).ConfigureAwait(false);
        string[] argv = Kind switch
        {
            PackageManagerKind.Apt => ["apt-get", "install", "-y", "-q", "--no-install-recommends",
                "-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold"],
            PackageManagerKind.Dnf => ["dnf", "-y", "install", "--setopt=install_weak_deps=False"],
            PackageManagerKind.Yum => ["yum", "-y", "install"],
            _ => ["apk", "add"],
        };
        await session.RunAsync([.. argv, .. packages], Prefix, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Removes (purges, for apt) packages.</summary>
    public async Task RemoveAsync(ChrootSession session, IReadOnlyList<string> packages, CancellationToken cancellationToken)
    {
        if (packages.Count == 0) return;
        Validate(packages);
        string[] argv = Kind switch
        {
            PackageManagerKind.Apt => ["apt-get", "purge", "-y", "-q"],
            PackageManagerKind.Dnf => ["dnf", "-y", "remove"],
            PackageManagerKind.Yum => ["yum", "-y", "remove"],
            _ => ["apk", "del"],
        };
        await session.RunAsync([.. argv, .. packages], Prefix, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Empties the package cache (apt-get clean, dnf clean all, ...).</summary>
    public Task CleanAsync(ChrootSession session, CancellationToken cancellationToken)
    {
        string[] argv = Kind switch
        {
            PackageManagerKind.Apt => ["apt-get", "clean"],
            PackageManagerKind.Dnf => ["dnf", "clean", "all"],
            PackageManagerKind.Yum => ["yum", "clean", "all"],
            _ => ["rm", "-rf", "/var/cache/apk"],
        };
        return session.RunAsync(argv, Prefix, cancellationToken);
    }

    private string Prefix => $"[{Kind.ToString().ToLowerInvariant()}] ";

    private static void Validate(IReadOnlyList<string> packages)
    {
        foreach (var p in packages)
            if (p.Length == 0 || p.StartsWith('-') || p.Any(char.IsWhiteSpace))
                throw new ArgumentException($"'{p}' is not a package name");
    }
}
