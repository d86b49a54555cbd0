namespace RootfsForge.Sources.Oci;

/// <summary>An image platform as an index or manifest list names it: <c>os/architecture[/variant]</c>, e.g. <c>linux/arm64/v8</c>.</summary>
/// <param name="Os">The operating system (<c>linux</c>).</param>
/// <param name="Architecture">The CPU architecture in Go's names (<c>amd64</c>, <c>arm64</c>, <c>arm</c>, <c>386</c>, <c>ppc64le</c>, <c>s390x</c>, <c>riscv64</c>).</param>
/// <param name="Variant">The CPU variant (<c>v7</c>, <c>v8</c>), or <c>null</c>.</param>
public sealed record Platform(string Os, string Architecture, string? Variant = null)
{
    /// <summary><c>linux/amd64</c>, what is picked from an index when no platform is asked for.</summary>
    public static Platform Default { get; } = new("linux", "amd64");

    /// <summary>
    /// Parses <c>os/arch[/variant]</c>. The kernel's names <c>x86_64</c> and <c>aarch64</c> are accepted for
    /// <c>amd64</c> and <c>arm64</c>. Throws <see cref="FormatException"/>.
    /// </summary>
    public static Platform Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var parts = text.Split('/');
        if (parts.Length is < 2 or > 3 || parts.Any(p => p.Length == 0 || p.Any(char.IsWhiteSpace)))
            throw new FormatException($"invalid platform '{text}': expected os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8");
        string arch = parts[1].ToLowerInvariant() switch
        {
            "x86_64" or "x86-64" => "amd64",
            "aarch64" => "arm64",
            var a => a,
        };
        return new Platform(parts[0].ToLowerInvariant(), arch, parts.Length == 3 ? parts[2].ToLowerInvariant() : null);
    }

    /// <summary>
    /// True when an image built for <paramref name="candidate"/> is what this platform asks for: same OS and
    /// architecture and, when this platform names a variant, the same variant (an <c>arm64</c> image without a variant
    /// is <c>v8</c>, as containerd normalizes it). Without a variant any variant matches.
    /// </summary>
    public bool Matches(Platform candidate)
    {
        ArgumentNullException.ThrowIfNull(candidate);
        if (!string.Equals(Os, candidate.Os, StringComparison.OrdinalIgnoreCase)
            || !string.Equals(Architecture, candidate.Architecture, StringComparison.OrdinalIgnoreCase))
            return false;
        return Variant is null || string.Equals(NormalVariant(Variant), NormalVariant(candidate.Variant), StringComparison.OrdinalIgnoreCase);
    }

    /// <summary><c>os/arch[/variant]</c>.</summary>
    public override string ToString() => Variant is null ? $"{Os}/{Architecture}" : $"{Os}/{Architecture}/{Variant}";

    private string? NormalVariant(string? variant) =>
        string.IsNullOrEmpty(variant) && Architecture == "arm64" ? "v8" : variant;
}
