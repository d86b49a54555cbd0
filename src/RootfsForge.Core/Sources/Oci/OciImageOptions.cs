namespace RootfsForge.Sources.Oci;

/// <summary>Options of <see cref="OciImage.OpenAsync"/>.</summary>
public sealed record OciImageOptions
{
    /// <summary>The platform picked from an index or manifest list; <c>null</c> for <see cref="Platform.Default"/> (<c>linux/amd64</c>).</summary>
    public Platform? Platform { get; init; }

    /// <summary>
    /// The blob cache folder; <c>null</c> for <c>$XDG_CACHE_HOME/rootfsforge/blobs</c>, else
    /// <c>~/.cache/rootfsforge/blobs</c>. Blobs are kept as <c>sha256/HEX</c>; downloads in progress as
    /// <c>partial/sha256-HEX</c>.
    /// </summary>
    public string? CacheDirectory { get; init; }

    /// <summary>
    /// A credentials file (containers <c>auth.json</c> or Docker <c>config.json</c> format) read before the standard ones:
    /// <c>$REGISTRY_AUTH_FILE</c>, <c>$XDG_RUNTIME_DIR/containers/auth.json</c>, <c>$DOCKER_CONFIG/config.json</c> or
    /// <c>~/.docker/config.json</c>.
    /// </summary>
    public string? CredentialsFile { get; init; }

    /// <summary>
    /// Registries (<c>host</c> or <c>host:port</c>, as in the reference) that may be reached over plain HTTP or HTTPS with
    /// a certificate that does not verify. Only these; every other registry needs valid HTTPS.
    /// </summary>
    public IReadOnlyList<string> InsecureRegistries { get; init; } = [];

    /// <summary>
    /// How far a compressed layer may expand: its tar may be at most this many times the compressed size (but always
    /// 256 MiB). A layer that expands further ends with <see cref="ImageFormatException"/> (a decompression bomb).
    /// Default 100; typical layers expand 2–10 times.
    /// </summary>
    public int MaxLayerExpansion { get; init; } = 100;

    /// <summary>Receives download progress (layers and bytes); <c>null</c> for none.</summary>
    public IProgress<OciProgress>? Progress { get; init; }
}
