using RootfsForge.Sources.Oci;
using Xunit;

namespace RootfsForge.NativeTests.Oci;

public class ImageReferenceTests
{
    [Theory]
    // docker pull's normalization: library/ for one-component Hub names, docker.io, latest.
    [InlineData("docker://busybox", "docker.io", "registry-1.docker.io", "library/busybox", "latest", null)]
    [InlineData("docker://busybox:1.36", "docker.io", "registry-1.docker.io", "library/busybox", "1.36", null)]
    [InlineData("docker://docker.io/busybox", "docker.io", "registry-1.docker.io", "library/busybox", "latest", null)]
    [InlineData("docker://index.docker.io/library/busybox:musl", "docker.io", "registry-1.docker.io", "library/busybox", "musl", null)]
    [InlineData("docker://grafana/grafana:10.0", "docker.io", "registry-1.docker.io", "grafana/grafana", "10.0", null)]
    [InlineData("docker://quay.io/coreos/etcd", "quay.io", "quay.io", "coreos/etcd", "latest", null)]
    [InlineData("docker://localhost/app", "localhost", "localhost", "app", "latest", null)]
    [InlineData("docker://localhost:5000/a/b/c:v1", "localhost:5000", "localhost:5000", "a/b/c", "v1", null)]
    [InlineData("docker://127.0.0.1:5000/test/app:gzip", "127.0.0.1:5000", "127.0.0.1:5000", "test/app", "gzip", null)]
    [InlineData("docker://Registry/app", "Registry", "Registry", "app", "latest", null)] // upper case: a registry host
    [InlineData("docker://[::1]:5000/app", "[::1]:5000", "[::1]:5000", "app", "latest", null)]
    [InlineData("docker://my-registry.example.com/team/app-name_x.y__z", "my-registry.example.com", "my-registry.example.com", "team/app-name_x.y__z", "latest", null)]
    [InlineData("docker://alpine@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "docker.io", "registry-1.docker.io", "library/alpine", null,
        "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    [InlineData("docker://alpine:3.20@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "docker.io", "registry-1.docker.io", "library/alpine", "3.20",
        "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    public void Registry_Normalized(string text, string registry, string host, string repository, string? tag, string? digest)
    {
        var r = ImageReference.Parse(text);
        Assert.Equal(ImageTransport.Registry, r.Transport);
        Assert.Equal(registry, r.Registry);
        Assert.Equal(host, r.RegistryHost);
        Assert.Equal(repository, r.Repository);
        Assert.Equal(tag, r.Tag);
        Assert.Equal(digest, r.Digest);
        Assert.Equal(r, ImageReference.Parse(r.ToString())); // the canonical form reads back
    }

    [Fact]
    public void Canonical_Form()
    {
        Assert.Equal("docker://docker.io/library/busybox:latest", ImageReference.Parse("docker://busybox").ToString());
        Assert.Equal("oci:/tmp/l:app", ImageReference.Parse("oci:/tmp/l:app").ToString());
        Assert.Equal("docker-archive:x.tar:docker.io/test/app:1", ImageReference.Parse("docker-archive:x.tar:test/app:1").ToString());
    }

    [Fact]
    public void OciLayout_PathAndTag()
    {
        var r = ImageReference.Parse("oci:/var/images/layout:v1.2");
        Assert.Equal(ImageTransport.OciLayout, r.Transport);
        Assert.Equal("/var/images/layout", r.Path);
        Assert.Equal("v1.2", r.Tag);
        var noTag = ImageReference.Parse("oci:relative/dir");
        Assert.Equal("relative/dir", noTag.Path);
        Assert.Null(noTag.Tag);
    }

    [Fact]
    public void DockerArchive_PathNameAndIndex()
    {
        var plain = ImageReference.Parse("docker-archive:/tmp/save.tar");
        Assert.Equal(("/tmp/save.tar", null, null), (plain.Path, plain.Repository, plain.Index));
        var named = ImageReference.Parse("docker-archive:/tmp/save.tar:busybox");
        Assert.Equal(("docker.io", "library/busybox", "latest"), (named.Registry, named.Repository, named.Tag));
        Assert.Equal(2, ImageReference.Parse("docker-archive:/tmp/save.tar:@2").Index);
    }

    [Theory]
    [InlineData("busybox", "expected docker://")]
    [InlineData("docker:busybox", "docker:// (two slashes)")]
    [InlineData("docker://", "empty")]
    [InlineData("docker://Busybox", "must be lower case")]
    [InlineData("docker://quay.io/Team/app", "must be lower case")]
    [InlineData("docker://busybox:-bad", "not a valid tag")]
    [InlineData("docker://busybox:" + "t123456789t123456789t123456789t123456789t123456789t123456789t123456789t123456789t123456789t123456789t123456789t123456789t123456789", "not a valid tag")]
    [InlineData("docker://app//x", "not a valid repository name")]
    [InlineData("docker://app-/x", "not a valid repository name")]
    [InlineData("docker://bad_host.com:x/app", "not a valid registry")]
    [InlineData("docker://alpine@sha256:abc", "64 lower-case hex")]
    [InlineData("docker://alpine@sha512:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "'sha512' is not supported")]
    [InlineData("docker://alpine@md5", "not a digest")]
    [InlineData("oci:", "path is empty")]
    [InlineData("oci:dir:", "nothing follows")]
    [InlineData("oci:dir:bad tag", "not a valid image name")]
    [InlineData("docker-archive:x.tar:@x", "not an image index")]
    [InlineData("docker-archive:x.tar:app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "not by digest")]
    public void Malformed_ClearError(string text, string expected)
    {
        var e = Assert.Throws<FormatException>(() => ImageReference.Parse(text));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void CredentialsInReference_RefusedWithoutEcho()
    {
        var e = Assert.Throws<FormatException>(() => ImageReference.Parse("docker://user:s3cr3t@registry.example.com/app"));
        Assert.DoesNotContain("s3cr3t", e.Message);
        Assert.Contains("credentials", e.Message);
    }

    [Theory]
    [InlineData("linux/amd64", "linux", "amd64", null)]
    [InlineData("linux/arm64/v8", "linux", "arm64", "v8")]
    [InlineData("linux/x86_64", "linux", "amd64", null)]
    [InlineData("Linux/AARCH64", "linux", "arm64", null)]
    public void Platform_Parse(string text, string os, string arch, string? variant) =>
        Assert.Equal(new Platform(os, arch, variant), Platform.Parse(text));

    [Theory]
    [InlineData("linux")]
    [InlineData("linux/")]
    [InlineData("a/b/c/d")]
    public void Platform_Malformed(string text) => Assert.Throws<FormatException>(() => Platform.Parse(text));

    [Fact]
    public void Platform_Matching()
    {
        Assert.True(Platform.Parse("linux/arm64").Matches(new Platform("linux", "arm64", "v8")));
        Assert.True(Platform.Parse("linux/arm64/v8").Matches(new Platform("linux", "arm64"))); // arm64 without variant is v8
        Assert.False(Platform.Parse("linux/arm/v7").Matches(new Platform("linux", "arm", "v6")));
        Assert.False(Platform.Default.Matches(new Platform("linux", "arm64")));
        Assert.False(Platform.Default.Matches(new Platform("windows", "amd64")));
    }
}
