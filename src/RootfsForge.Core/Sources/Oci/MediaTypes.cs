namespace RootfsForge.Sources.Oci;

/// <summary>The media types of image-spec v1.1 and of Docker's image manifest v2 schema 2 that are read.</summary>
internal static class MediaTypes
{
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";
    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";

    /// <summary>Docker schema 1 (signed and unsigned): deprecated, refused with its own message.</summary>
    public const string DockerSchema1 = "application/vnd.docker.distribution.manifest.v1+json";
    public const string DockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws";

    public const string OciConfig = "application/vnd.oci.image.config.v1+json";
    public const string DockerConfig = "application/vnd.docker.container.image.v1+json";

    public const string OciLayer = "application/vnd.oci.image.layer.v1.tar";
    public const string OciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
    public const string OciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";

    // Deprecated in image-spec 1.1 but still written (Windows base images): "non-distributable" layers.
    public const string OciForeignLayer = "application/vnd.oci.image.layer.nondistributable.v1.tar";
    public const string OciForeignLayerGzip = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
    public const string OciForeignLayerZstd = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";

    public const string DockerLayer = "application/vnd.docker.image.rootfs.diff.tar";
    public const string DockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip";

    /// <summary>containerd's name for a zstd layer in a Docker manifest (Docker ≥ 23 pushes it).</summary>
    public const string DockerLayerZstd = "application/vnd.docker.image.rootfs.diff.tar.zstd";
    public const string DockerForeignLayerGzip = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
    public const string DockerForeignLayer = "application/vnd.docker.image.rootfs.foreign.diff.tar";

    /// <summary>The Accept header of a manifest request: every manifest and index type that is read.</summary>
    public static readonly string[] ManifestAccept = [OciManifest, OciIndex, DockerManifest, DockerManifestList];

    public static bool IsIndex(string mediaType) => mediaType is OciIndex or DockerManifestList;

    public static bool IsManifest(string mediaType) => mediaType is OciManifest or DockerManifest;

    /// <summary>The compression a layer media type declares, or <c>null</c> when the type is not a layer that is read.</summary>
    public static LayerCompression? LayerCompressionOf(string mediaType) => mediaType switch
    {
        OciLayer or OciForeignLayer or DockerLayer or DockerForeignLayer => LayerCompression.None,
        OciLayerGzip or OciForeignLayerGzip or DockerLayerGzip or DockerForeignLayerGzip => LayerCompression.Gzip,
        OciLayerZstd or OciForeignLayerZstd or DockerLayerZstd => LayerCompression.Zstd,
        _ => null,
    };

    public static bool IsForeignLayer(string mediaType) => mediaType is OciForeignLayer or OciForeignLayerGzip
        or OciForeignLayerZstd or DockerForeignLayer or DockerForeignLayerGzip;
}
