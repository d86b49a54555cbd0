namespace RootfsForge.Sources.Oci;

/// <summary>Where an <see cref="ImageReference"/> points: the prefix of its string form.</summary>
public enum ImageTransport
{
    /// <summary><c>docker://[REGISTRY/]REPO[:TAG|@sha256:DIGEST]</c>: a registry speaking the OCI distribution API v2.</summary>
    Registry,

    /// <summary><c>oci:DIR[:TAG]</c>: an OCI image layout directory (what <c>skopeo copy … oci:</c> and umoci write).</summary>
    OciLayout,

    /// <summary><c>docker-archive:FILE.tar[:NAME:TAG|:@INDEX]</c>: what <c>docker save</c> and <c>podman save</c> write.</summary>
    DockerArchive,
}
