namespace RootfsForge.Tree;

/// <summary>A timestamp as seconds since the Unix epoch (signed, 64-bit) and nanoseconds (0 … 999 999 999).</summary>
/// <param name="Seconds">Whole seconds since 1970-01-01T00:00:00Z; negative before 1970.</param>
/// <param name="Nanoseconds">The sub-second part, always non-negative.</param>
public readonly record struct UnixTime(long Seconds, uint Nanoseconds) : IComparable<UnixTime>
{
    /// <summary>The epoch itself.</summary>
    public static UnixTime Epoch => default;

    /// <inheritdoc />
    public int CompareTo(UnixTime other)
    {
        int c = Seconds.CompareTo(other.Seconds);
        return c != 0 ? c : Nanoseconds.CompareTo(other.Nanoseconds);
    }

    /// <summary>The earlier of this time and <paramref name="limit"/> (for <c>--mtime-clamp</c> / SOURCE_DATE_EPOCH).</summary>
    public UnixTime ClampTo(UnixTime limit) => CompareTo(limit) > 0 ? limit : this;

    /// <inheritdoc />
    public override string ToString() =>
        DateTimeOffset.FromUnixTimeSeconds(Math.Clamp(Seconds, -62135596800, 253402300799)).ToString("yyyy-MM-dd'T'HH:mm:ss")
        + "." + Nanoseconds.ToString("D9") + "Z";
}
