using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using RootfsForge.Sources.Oci;
using Xunit;

namespace RootfsForge.NativeTests.Oci;

/// <summary>Faults between the client and a real registry (a <see cref="FaultProxy"/>), and corrupted registry storage.</summary>
[Collection(OciImagesCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class RegistryFaultTests(OciImagesFixture images)
{
    private static ImageReference Ref(string host, string repoTag = "test/app:gzip") => ImageReference.Parse($"docker://{host}/{repoTag}");

    private static bool IsManifest(HttpExchange x) => x.Path.Contains("/manifests/");

    private static bool IsBlob(HttpExchange x, string? digest = null) =>
        x.Path.Contains("/blobs/sha256:") && (digest is null || x.Path.EndsWith(digest, StringComparison.Ordinal));

    /// <summary>Answers the first <paramref name="times"/> matching requests with <paramref name="status"/>.</summary>
    private static Func<HttpExchange, FaultProxy, Task<bool>> FailFirst(Func<HttpExchange, bool> match, int times, int status,
        params KeyValuePair<string, string>[] headers)
    {
        int seen = 0;
        return async (x, p) =>
        {
            if (!match(x) || Interlocked.Increment(ref seen) > times) return false;
            p.Record(x, status);
            await x.RespondAsync(status, Encoding.UTF8.GetBytes("{\"errors\":[{\"code\":\"TOOMANYREQUESTS\",\"message\":\"slow down\"}]}"), headers);
            return true;
        };
    }

    private async Task<(OciImage Image, string Cache)> Open(FaultProxy proxy, string repoTag = "test/app:gzip")
    {
        string cache = images.NewCache();
        return (await OciImage.OpenAsync(Ref(proxy.Host, repoTag), OciImagesFixture.Options(cache, proxy.Host)), cache);
    }

    [SkippableFact]
    public async Task TooManyRequests_RetryAfterHonoured()
    {
        images.Require();
        using var proxy = new FaultProxy(images.RegistryOrigin);
        proxy.Rule = FailFirst(IsManifest, 1, 429, KeyValuePair.Create("Retry-After", "1"));
        var clock = Stopwatch.StartNew();
        var (image, _) = await Open(proxy);
        await using var _ = image;
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(0.9), $"retried after {clock.Elapsed}, Retry-After said 1 s");
        Assert.Equal([429, 200], proxy.Log.Where(e => e.Target.Contains("/manifests/")).Select(e => e.Status));
    }

    [SkippableFact]
    public async Task ServerErrors_RetriedWithBackoff_ThenGiveUp()
    {
        images.Require();
        using var proxy = new FaultProxy(images.RegistryOrigin);
        var (image, cache) = await Open(proxy);
        await using var _ = image;
        string layer = image.Layers[1].Digest;
        proxy.Rule = FailFirst(x => IsBlob(x, layer), 2, 500);
        await image.DownloadAsync();
        Assert.Equal([500, 500, 200], proxy.Log.Where(e => e.Target.EndsWith(layer)).Select(e => e.Status));

        // Always 503: bounded attempts, then a RegistryException naming the status; nothing kept.
        using var always = new FaultProxy(images.RegistryOrigin);
        var (second, cache2) = await Open(always);
        await using var __ = second;
        always.Rule = FailFirst(x => IsBlob(x, layer), int.MaxValue, 503);
        var e = await Assert.ThrowsAsync<RegistryException>(() => second.DownloadAsync());
        Assert.Equal(HttpStatusCode.ServiceUnavailable, e.StatusCode);
        // Bounded by the number of tries (no wall-clock bound: that would fail on a loaded machine, not on a bug).
        Assert.Equal(5, always.Log.Count(x => x.Target.EndsWith(layer)));
        Assert.False(File.Exists(Path.Combine(cache2, "sha256", layer["sha256:".Length..])));
    }

    [SkippableFact]
    public async Task ConnectionCutMidBlob_ResumedWithRange()
    {
        images.Require();
        using var proxy = new FaultProxy(images.RegistryOrigin);
        var (image, cache) = await Open(proxy);
        await using var _ = image;
        var layer = image.Layers[0]; // busybox, ~1 MiB
        int cuts = 0;
        proxy.Rule = async (x, p) =>
        {
            if (!IsBlob(x, layer.Digest) || Interlocked.Increment(ref cuts) > 2) return false;
            await p.ForwardAsync(x, cutAfter: (int)(layer.Size / 3)); // twice, a third of the rest each time
            return true;
        };
        await image.DownloadAsync();
        var requests = proxy.Log.Where(e => e.Target.EndsWith(layer.Digest)).ToArray();
        Assert.Equal(3, requests.Length);
        Assert.Null(requests[0].Range);
        Assert.Equal($"bytes={layer.Size / 3}-", requests[1].Range);
        Assert.StartsWith("bytes=", requests[2].Range);
        Assert.True(File.Exists(Path.Combine(cache, "sha256", layer.Digest["sha256:".Length..])));
        Assert.Empty(Directory.GetFiles(Path.Combine(cache, "partial")));
        await using var tar = await image.OpenLayerAsync(layer);
        Assert.Equal(File.ReadAllBytes("/bin/busybox"), OciImagesFixture.ReadTar(tar)["bin/busybox"]);
    }

    [SkippableFact]
    public async Task InterruptedEarlier_PartialFileResumed()
    {
        images.Require();
        using var proxy = new FaultProxy(images.RegistryOrigin);
        var (image, cache) = await Open(proxy);
        await using var _ = image;
        var layer = image.Layers[0];
        // What an earlier, interrupted run left: the first half of the blob in the partial area.
        var whole = File.ReadAllBytes(images.RegistryBlobPath(layer.Digest));
        File.WriteAllBytes(Path.Combine(cache, "partial", "sha256-" + layer.Digest["sha256:".Length..]), whole[..(whole.Length / 2)]);
        proxy.ClearLog();
        await image.DownloadAsync();
        Assert.Equal($"bytes={whole.Length / 2}-", proxy.Log.Single(e => e.Target.EndsWith(layer.Digest)).Range);
        Assert.Equal(whole, File.ReadAllBytes(Path.Combine(cache, "sha256", layer.Digest["sha256:".Length..])));
    }

    [SkippableFact]
    public async Task ResumedFromBadPartial_StartsOverOnce()
    {
        images.Require();
        using var proxy = new FaultProxy(images.RegistryOrigin);
        var (image, cache) = await Open(proxy);
        await using var _ = image;
        var layer = image.Layers[0];
        File.WriteAllBytes(Path.Combine(cache, "partial", "sha256-" + layer.Digest["sha256:".Length..]), new byte[1000]); // garbage
        proxy.ClearLog();
        await image.DownloadAsync();
        Assert.Equal(["bytes=1000-", null], proxy.Log.Where(e => e.Target.EndsWith(layer.Digest)).Select(e => e.Range));
    }

    [SkippableFact]
    public async Task TamperedBlobInRegistryStorage_ImageFormatException_NothingKept()
    {
        images.Require();
        var (image, cache) = await OpenDirect(images.PushUnique("tampered"));
        await using var _ = image;
        string path = images.RegistryBlobPath(image.Layers[^1].Digest);
        var bytes = File.ReadAllBytes(path);
        bytes[bytes.Length / 2] ^= 0x01;
        File.WriteAllBytes(path, bytes);
        var e = await Assert.ThrowsAsync<ImageFormatException>(() => image.OpenLayerAsync(image.Layers[^1]));
        Assert.Contains("does not match its digest", e.Message);
        Assert.Contains(image.Layers[^1].Digest, e.Message);
        Assert.False(File.Exists(Path.Combine(cache, "sha256", image.Layers[^1].Digest["sha256:".Length..])));
        Assert.Empty(Directory.GetFiles(Path.Combine(cache, "partial")));
    }

    [SkippableFact]
    public async Task TruncatedBlobInRegistryStorage_ImageFormatException()
    {
        images.Require();
        var (image, cache) = await OpenDirect(images.PushUnique("truncated"));
        await using var _ = image;
        string path = images.RegistryBlobPath(image.Layers[^1].Digest);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length - 7)]);
        var e = await Assert.ThrowsAsync<ImageFormatException>(() => image.DownloadAsync());
        Assert.Contains("truncated", e.Message);
        // The bad blob is not kept, neither as a blob nor as a partial file (other layers' downloads, stopped with it,
        // may leave theirs to resume).
        string hex = image.Layers[^1].Digest["sha256:".Length..];
        Assert.False(File.Exists(Path.Combine(cache, "sha256", hex)));
        Assert.False(File.Exists(Path.Combine(cache, "partial", "sha256-" + hex)));
    }

    private async Task<(OciImage, string)> OpenDirect(string repoTag)
    {
        string cache = images.NewCache();
        return (await OciImage.OpenAsync(Ref(images.Host, repoTag), OciImagesFixture.Options(cache, images.Host)), cache);
    }

    [SkippableFact]
    public async Task ManifestChangedInTransit_ImageFormatException()
    {
        images.Require();
        using var proxy = new FaultProxy(images.RegistryOrigin);
        string digest;
        await using (var image = await OciImage.OpenAsync(Ref(images.Host), OciImagesFixture.Options(images.NewCache(), images.Host)))
            digest = image.ManifestDigest!;
        proxy.Rule = async (x, p) =>
        {
            if (!IsManifest(x)) return false;
            await p.ForwardAsync(x, transform: body => Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(body).Replace("\"schemaVersion\":2", "\"schemaVersion\": 2")));
            return true;
        };
        var e = await Assert.ThrowsAsync<ImageFormatException>(() =>
            OciImage.OpenAsync(Ref(proxy.Host, $"test/app@{digest}"), OciImagesFixture.Options(images.NewCache(), proxy.Host)));
        Assert.Contains("does not match the digest asked for", e.Message);
    }

    [SkippableTheory]
    [InlineData("application/vnd.example.unknown.v1+json", "is not supported")]
    [InlineData("application/vnd.docker.distribution.manifest.v1+prettyjws", "schema 1")]
    public async Task UnknownManifestMediaType_FromRegistry_Refused(string mediaType, string expected)
    {
        images.Require();
        using var proxy = new FaultProxy(images.RegistryOrigin);
        proxy.Rule = async (x, p) =>
        {
            if (!IsManifest(x)) return false;
            p.Record(x, 200);
            await x.RespondAsync(200, Encoding.UTF8.GetBytes($"{{\"schemaVersion\":2,\"mediaType\":\"{mediaType}\",\"config\":{{}},\"layers\":[]}}"),
                [KeyValuePair.Create("Content-Type", mediaType)]);
            return true;
        };
        var e = await Assert.ThrowsAsync<UnsupportedImageException>(() =>
            OciImage.OpenAsync(Ref(proxy.Host), OciImagesFixture.Options(images.NewCache(), proxy.Host)));
        Assert.Contains(expected, e.Message);
    }

    /// <summary>Serves the app manifest with its top layer rewritten by <paramref name="edit"/> (by tag, so no digest to match).</summary>
    private static Func<HttpExchange, FaultProxy, Task<bool>> EditTopLayer(Action<JsonObject> edit) => async (x, p) =>
    {
        if (!IsManifest(x)) return false;
        await p.ForwardAsync(x, transform: body =>
        {
            var manifest = JsonNode.Parse(body)!.AsObject();
            edit(manifest["layers"]!.AsArray()[^1]!.AsObject());
            return Encoding.UTF8.GetBytes(manifest.ToJsonString());
        });
        return true;
    };

    [SkippableFact]
    public async Task UnknownLayerMediaType_FromRegistry_Refused()
    {
        images.Require();
        using var proxy = new FaultProxy(images.RegistryOrigin);
        proxy.Rule = EditTopLayer(l => l["mediaType"] = "application/vnd.example.layer.v1.tar+lz4");
        var e = await Assert.ThrowsAsync<UnsupportedImageException>(() =>
            OciImage.OpenAsync(Ref(proxy.Host), OciImagesFixture.Options(images.NewCache(), proxy.Host)));
        Assert.Contains("application/vnd.example.layer.v1.tar+lz4", e.Message);
    }

    [SkippableFact]
    public async Task ForeignLayer_FetchedFromItsUrls_OrRefusedWithout()
    {
        images.Require();
        string cache = images.NewCache();
        string digest;
        await using (var plain = await OciImage.OpenAsync(Ref(images.Host), OciImagesFixture.Options(cache, images.Host)))
            digest = plain.Layers[^1].Digest;
        var bytes = File.ReadAllBytes(images.RegistryBlobPath(digest));
        var foreignRequests = new List<string?>();
        await using var foreign = new LoopbackHttpServer(async x =>
        {
            lock (foreignRequests) foreignRequests.Add(x.Header("Authorization"));
            await x.RespondAsync(200, bytes);
        });

        using var proxy = new FaultProxy(images.RegistryOrigin);
        proxy.Rule = EditTopLayer(l =>
        {
            l["mediaType"] = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
            l["urls"] = new JsonArray("ftp://not-http.example/x", $"{foreign.Origin}/layer.tar.gz");
        });
        await using (var image = await OciImage.OpenAsync(Ref(proxy.Host), OciImagesFixture.Options(images.NewCache(), proxy.Host)))
        {
            Assert.Equal([$"{foreign.Origin}/layer.tar.gz"], image.Layers[^1].Urls.Skip(1));
            await using var tar = await image.OpenLayerAsync(image.Layers[^1]);
            Assert.True(OciImagesFixture.ReadTar(tar).ContainsKey("etc/app.conf"));
        }
        Assert.Equal([null], foreignRequests);
        Assert.DoesNotContain(proxy.BlobGets, e => e.Target.EndsWith(digest));

        proxy.Rule = EditTopLayer(l => l["mediaType"] = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip");
        await using var noUrls = await OciImage.OpenAsync(Ref(proxy.Host), OciImagesFixture.Options(images.NewCache(), proxy.Host));
        var e = await Assert.ThrowsAsync<UnsupportedImageException>(() => noUrls.OpenLayerAsync(noUrls.Layers[^1]));
        Assert.Contains("foreign (non-distributable) layer without http(s) urls", e.Message);
    }
}
