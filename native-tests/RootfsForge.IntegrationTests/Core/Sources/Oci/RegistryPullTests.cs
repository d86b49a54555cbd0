using RootfsForge.Sources.Oci;
using Xunit;

namespace RootfsForge.NativeTests.Oci;

/// <summary>Pulls from a real docker-registry (anonymous) of images pushed by buildah.</summary>
[Collection(OciImagesCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class RegistryPullTests(OciImagesFixture images)
{
    private ImageReference Ref(string repoTag, string? host = null) => ImageReference.Parse($"docker://{host ?? images.Host}/{repoTag}");

    private static async Task<Dictionary<string, byte[]>> Merged(OciImage image)
    {
        var files = new Dictionary<string, byte[]>();
        foreach (var layer in image.Layers)
        {
            await using var tar = await image.OpenLayerAsync(layer);
            foreach (var (k, v) in OciImagesFixture.ReadTar(tar)) files[k] = v;
        }
        return files;
    }

    [SkippableTheory]
    [InlineData("test/app:gzip", "application/vnd.oci.image.layer.v1.tar+gzip", LayerCompression.Gzip)]
    [InlineData("test/app:zstd", "application/vnd.oci.image.layer.v1.tar+zstd", LayerCompression.Zstd)]
    [InlineData("test/app:v2s2", "application/vnd.docker.image.rootfs.diff.tar.gzip", LayerCompression.Gzip)]
    public async Task Pull_LayersAndConfig(string repoTag, string layerType, LayerCompression compression)
    {
        images.Require();
        var progress = new List<OciProgress>();
        var options = OciImagesFixture.Options(images.NewCache(), images.Host) with { Progress = new SyncProgress<OciProgress>(progress.Add) };
        await using var image = await OciImage.OpenAsync(Ref(repoTag), options);

        Assert.Equal(2, image.Layers.Count);
        Assert.All(image.Layers, l => Assert.Equal(layerType, l.MediaType));
        Assert.All(image.Layers, l => Assert.Equal(compression, l.Compression));
        Assert.StartsWith("sha256:", image.ManifestDigest);
        Assert.Null(image.IndexDigest);
        Assert.Equal(Platform.Default, image.Platform);
        Assert.Equal([Platform.Default], image.Platforms);

        var c = image.Config;
        Assert.Equal(["/bin/sh", "-c"], c.Entrypoint);
        Assert.Equal(["echo hello"], c.Cmd);
        Assert.Contains("GREETING=hello world", c.Env);
        Assert.Equal("/srv", c.WorkingDir);
        Assert.Equal("1000:1000", c.User);
        Assert.Equal("test-app", c.Labels["org.example.role"]);
        Assert.Equal(["8080/tcp"], c.ExposedPorts);
        Assert.Equal(c.DiffIds, image.Layers.Select(l => l.DiffId));

        await image.DownloadAsync();
        var files = await Merged(image);
        Assert.Equal(OciImagesFixture.AppConf, System.Text.Encoding.UTF8.GetString(files["etc/app.conf"]));
        Assert.Equal(File.ReadAllBytes("/bin/busybox"), files["bin/busybox"]);
        Assert.True(files.ContainsKey("bin/sh"));

        var last = progress[^1];
        Assert.Equal((2, 2), (last.LayersDone, last.LayerCount));
        Assert.Equal(image.Layers.Sum(l => l.Size), last.BytesTotal);
        Assert.Equal(last.BytesTotal, last.BytesDone);
        Assert.True(last.BytesDownloaded >= last.BytesTotal);
    }

    [SkippableFact]
    public async Task Pull_ByDigest_AndCachedSecondTime()
    {
        images.Require();
        string cache = images.NewCache();
        using var proxy = new FaultProxy(images.RegistryOrigin);
        string digest;
        await using (var first = await OciImage.OpenAsync(Ref("test/app:gzip", proxy.Host), OciImagesFixture.Options(cache, proxy.Host)))
        {
            digest = first.ManifestDigest!;
            await first.DownloadAsync();
        }
        Assert.Equal(3, proxy.BlobGets.Count); // config + 2 layers
        proxy.ClearLog();

        var progress = new List<OciProgress>();
        await using var again = await OciImage.OpenAsync(Ref($"test/app@{digest}", proxy.Host),
            OciImagesFixture.Options(cache, proxy.Host) with { Progress = new SyncProgress<OciProgress>(progress.Add) });
        Assert.Equal(digest, again.ManifestDigest);
        Assert.Null(again.Reference.Tag);
        await again.DownloadAsync();
        Assert.Empty(proxy.BlobGets); // everything came from the cache
        Assert.Equal(0, progress[^1].BytesDownloaded);
        Assert.Equal(2, progress[^1].LayersDone);
        var files = await Merged(again);
        Assert.True(files.ContainsKey("etc/app.conf"));
        // The cache holds exactly the verified blobs and no partial files.
        Assert.Equal(3, Directory.GetFiles(Path.Combine(cache, "sha256")).Length);
        Assert.Empty(Directory.GetFiles(Path.Combine(cache, "partial")));
    }

    [SkippableFact]
    public async Task SecondImageSharingLayers_DownloadsOnlyNewBlobs()
    {
        images.Require();
        string cache = images.NewCache();
        using var proxy = new FaultProxy(images.RegistryOrigin);
        await using (var b = await OciImage.OpenAsync(Ref("test/base:1", proxy.Host), OciImagesFixture.Options(cache, proxy.Host)))
        {
            Assert.Single(b.Layers);
            await b.DownloadAsync();
        }
        proxy.ClearLog();
        await using var app = await OciImage.OpenAsync(Ref("test/app:gzip", proxy.Host), OciImagesFixture.Options(cache, proxy.Host));
        await app.DownloadAsync();
        var fetched = proxy.BlobGets.Select(e => e.Target[(e.Target.LastIndexOf('/') + 1)..]).ToArray();
        // The busybox layer is shared and cached: only the app's config and its own layer are fetched.
        Assert.Equal([app.ConfigDigest, app.Layers[1].Digest], fetched);
    }

    [SkippableFact]
    public async Task Index_PicksPlatform_ListsWhatExists()
    {
        images.Require();
        var options = OciImagesFixture.Options(images.NewCache(), images.Host);
        await using (var amd = await OciImage.OpenAsync(Ref("test/multi:1"), options))
        {
            Assert.Equal(Platform.Default, amd.Platform);
            Assert.StartsWith("sha256:", amd.IndexDigest);
            Assert.Equal(["linux/amd64", "linux/arm64/v8"], amd.Platforms.Select(p => p.ToString()).Order());
            Assert.Equal("amd64", amd.Config.Architecture);
            Assert.Equal(2, amd.Layers.Count);
        }
        await using (var arm = await OciImage.OpenAsync(Ref("test/multi:1"), options with { Platform = Platform.Parse("linux/arm64") }))
        {
            Assert.Equal("arm64", arm.Platform.Architecture);
            Assert.Equal("arm64", arm.Config.Architecture);
            await using var tar = await arm.OpenLayerAsync(arm.Layers[^1]);
            Assert.True(OciImagesFixture.ReadTar(tar).ContainsKey("etc/arch"));
        }
        var e = await Assert.ThrowsAsync<UnsupportedImageException>(() =>
            OciImage.OpenAsync(Ref("test/multi:1"), options with { Platform = Platform.Parse("linux/s390x") }));
        Assert.Contains("no image for linux/s390x", e.Message);
        Assert.Contains("linux/amd64", e.Message);
        Assert.Contains("linux/arm64/v8", e.Message);
    }

    [SkippableFact]
    public async Task SinglePlatformImage_ExplicitOtherPlatform_Refused()
    {
        images.Require();
        var options = OciImagesFixture.Options(images.NewCache(), images.Host) with { Platform = Platform.Parse("linux/arm64") };
        var e = await Assert.ThrowsAsync<UnsupportedImageException>(() => OciImage.OpenAsync(Ref("test/app:gzip"), options));
        Assert.Contains("linux/amd64, not linux/arm64", e.Message);
    }

    [SkippableFact]
    public async Task NotFound_RegistryException404()
    {
        images.Require();
        var options = OciImagesFixture.Options(images.NewCache(), images.Host);
        var e = await Assert.ThrowsAsync<RegistryException>(() => OciImage.OpenAsync(Ref("test/app:no-such-tag"), options));
        Assert.Equal(System.Net.HttpStatusCode.NotFound, e.StatusCode);
        Assert.Equal("MANIFEST_UNKNOWN", e.ErrorCode);
        Assert.Contains("test/app:no-such-tag", e.Message);
        var repo = await Assert.ThrowsAsync<RegistryException>(() => OciImage.OpenAsync(Ref("test/nothing:1"), options));
        Assert.Equal(System.Net.HttpStatusCode.NotFound, repo.StatusCode);
    }

    [SkippableFact]
    public async Task PlainHttpRegistry_NotListedAsInsecure_IsNotContacted()
    {
        images.Require();
        // HTTPS is required unless the registry is listed: the plain-HTTP server fails the TLS handshake.
        var e = await Assert.ThrowsAsync<RegistryException>(() =>
            OciImage.OpenAsync(Ref("test/app:gzip"), new OciImageOptions { CacheDirectory = images.NewCache() }));
        Assert.Contains("cannot reach https://" + images.Host, e.Message);
    }
}

/// <summary>IProgress that reports synchronously (Progress&lt;T&gt; posts to the thread pool).</summary>
internal sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
{
    private readonly object _lock = new();

    public void Report(T value)
    {
        lock (_lock) report(value);
    }
}
