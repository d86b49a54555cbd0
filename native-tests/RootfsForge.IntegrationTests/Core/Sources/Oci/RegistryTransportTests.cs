using System.Diagnostics;
using System.Formats.Tar;
using RootfsForge.NativeTests.Support;
using RootfsForge.Sources.Oci;
using Xunit;

namespace RootfsForge.NativeTests.Oci;

/// <summary>HTTPS with a self-signed certificate, cancellation mid-download, and the image builder helpers.</summary>
[Collection(OciImagesCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class RegistryTransportTests(OciImagesFixture images)
{
    [SkippableFact]
    public async Task SelfSignedHttps_OnlyWhenListedAsInsecure()
    {
        images.Require();
        using var registry = RegistryServer.StartTls(images.Storage);
        var reference = ImageReference.Parse($"docker://{registry.Host}/test/app:gzip");
        var refused = await Assert.ThrowsAsync<RegistryException>(() =>
            OciImage.OpenAsync(reference, new OciImageOptions { CacheDirectory = images.NewCache() }));
        Assert.Contains("SSL", refused.Message);

        await using var image = await OciImage.OpenAsync(reference, OciImagesFixture.Options(images.NewCache(), registry.Host));
        await image.DownloadAsync();
        await using var tar = await image.OpenLayerAsync(image.Layers[1]);
        Assert.True(OciImagesFixture.ReadTar(tar).ContainsKey("etc/app.conf"));
    }

    [SkippableFact]
    public async Task Cancelled_MidBlob_KeepsOnlyThePartialFile_NextRunResumes()
    {
        images.Require();
        string cache = images.NewCache();
        using var proxy = new FaultProxy(images.RegistryOrigin);
        await using var image = await OciImage.OpenAsync(ImageReference.Parse($"docker://{proxy.Host}/test/app:gzip"),
            OciImagesFixture.Options(cache, proxy.Host));
        var layer = image.Layers[0];
        var whole = File.ReadAllBytes(images.RegistryBlobPath(layer.Digest));
        using var halfSent = new SemaphoreSlim(0);
        proxy.Rule = async (x, p) =>
        {
            if (!x.Path.EndsWith(layer.Digest, StringComparison.Ordinal)) return false;
            p.Record(x, 200);
            await x.WriteHeadAsync(200, whole.Length);
            await x.Connection.WriteAsync(whole.AsMemory(0, whole.Length / 2));
            await x.Connection.FlushAsync();
            halfSent.Release();
            await Task.Delay(TimeSpan.FromSeconds(20)); // then stall
            return true;
        };
        using var cts = new CancellationTokenSource();
        var open = image.OpenLayerAsync(layer, cts.Token);
        Assert.True(await halfSent.WaitAsync(TimeSpan.FromSeconds(30)));
        // Cancel once the client has written some of what it received to its partial file (a fixed pause was not
        // always enough on a loaded machine).
        string partialPath = Path.Combine(cache, "partial", "sha256-" + layer.Digest["sha256:".Length..]);
        for (var waited = Stopwatch.StartNew(); !(File.Exists(partialPath) && new FileInfo(partialPath).Length > 0); await Task.Delay(50))
            Assert.True(waited.Elapsed < TimeSpan.FromMinutes(1), "the client wrote nothing of the half blob it was sent");
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => open);

        string hex = layer.Digest["sha256:".Length..];
        Assert.False(File.Exists(Path.Combine(cache, "sha256", hex)));
        var partial = new FileInfo(Path.Combine(cache, "partial", "sha256-" + hex));
        Assert.True(partial.Exists && partial.Length > 0 && partial.Length <= whole.Length / 2, $"partial: {partial.Exists} {(partial.Exists ? partial.Length : 0)}");
        Assert.DoesNotContain(Directory.GetFiles(cache, "*", SearchOption.AllDirectories),
            f => !f.StartsWith(Path.Combine(cache, "partial"), StringComparison.Ordinal) && !f.StartsWith(Path.Combine(cache, "sha256"), StringComparison.Ordinal));

        proxy.Rule = null;
        proxy.ClearLog();
        await using var again = await OciImage.OpenAsync(ImageReference.Parse($"docker://{proxy.Host}/test/app:gzip"), OciImagesFixture.Options(cache, proxy.Host));
        await again.DownloadAsync();
        Assert.Equal($"bytes={partial.Length}-", proxy.Log.Single(e => e.Target.EndsWith(layer.Digest)).Range);
        Assert.Equal(whole, File.ReadAllBytes(Path.Combine(cache, "sha256", hex)));
        Assert.Empty(Directory.GetFiles(Path.Combine(cache, "partial")));
    }

    [SkippableFact]
    public async Task SameBlob_TwoImagesAtOnce_OneDownload()
    {
        images.Require();
        string cache = images.NewCache();
        using var proxy = new FaultProxy(images.RegistryOrigin);
        var reference = ImageReference.Parse($"docker://{proxy.Host}/test/app:gzip");
        await using var a = await OciImage.OpenAsync(reference, OciImagesFixture.Options(cache, proxy.Host));
        await using var b = await OciImage.OpenAsync(reference, OciImagesFixture.Options(cache, proxy.Host));
        var layer = a.Layers[0];
        proxy.Rule = async (x, p) =>
        {
            if (!x.Path.EndsWith(layer.Digest, StringComparison.Ordinal)) return false;
            await Task.Delay(300); // keep the first download going while the second one arrives
            await p.ForwardAsync(x);
            return true;
        };
        var streams = await Task.WhenAll(a.OpenLayerAsync(layer), b.OpenLayerAsync(b.Layers[0]));
        foreach (var s in streams)
        {
            Assert.Equal(File.ReadAllBytes("/bin/busybox"), OciImagesFixture.ReadTar(s)["bin/busybox"]);
            await s.DisposeAsync();
        }
        Assert.Single(proxy.Log, e => e.Target.EndsWith(layer.Digest, StringComparison.Ordinal));
    }

    [SkippableFact]
    public async Task Buildah_Dockerfile_OneLayerPerStep_WithWhiteouts()
    {
        images.Require();
        string context = TestEnvironment.NewTempDir("rff-dockerfile");
        File.WriteAllText(Path.Combine(context, "Dockerfile"), $"""
            FROM {Buildah.BaseImage}
            RUN mkdir -p /data/keep /data/gone && echo a > /data/keep/a && echo b > /data/gone/b
            RUN rm -rf /data/gone /data/keep && mkdir /data/keep && echo c > /data/keep/c
            """);
        string image = images.Buildah.BuildDockerfile(context, "localhost/rootfsforge-test/dockerfile:1");
        string layout = images.Buildah.ToOciLayout(image, Path.Combine(context, "layout"), "df");
        await using var oci = await OciImage.OpenAsync(ImageReference.Parse($"oci:{layout}:df"));
        Assert.Equal(3, oci.Layers.Count);
        var names = new List<string>();
        await using (var tar = await oci.OpenLayerAsync(oci.Layers[2]))
        {
            using var reader = new TarReader(tar);
            while (reader.GetNextEntry() is { } e) names.Add(e.Name.TrimStart('.', '/'));
        }
        // buildah with vfs storage diffs file by file: a removed directory is one whiteout, and a directory removed and
        // made again keeps its entry with a whiteout per old child (no opaque marker: the layer-merge tests that
        // need .wh..wh..opq write it with OciLayoutWriter).
        Assert.Equal(["data/", "data/.wh.gone", "data/keep/", "data/keep/.wh.a", "data/keep/c"], names);
    }
}
