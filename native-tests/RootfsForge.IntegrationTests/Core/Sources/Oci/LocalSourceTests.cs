using System.Text;
using RootfsForge.NativeTests.Support;
using RootfsForge.Sources.Oci;
using Xunit;

namespace RootfsForge.NativeTests.Oci;

/// <summary><c>oci:</c> layouts written by skopeo or by hand, and <c>docker-archive:</c> tars written by skopeo.</summary>
[Collection(OciImagesCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class LocalSourceTests(OciImagesFixture images)
{
    private static async Task<Dictionary<string, byte[]>> ReadAll(OciImage image)
    {
        var files = new Dictionary<string, byte[]>();
        foreach (var layer in image.Layers)
        {
            await using var tar = await image.OpenLayerAsync(layer);
            foreach (var (k, v) in OciImagesFixture.ReadTar(tar)) files[k] = v;
        }
        return files;
    }

    [SkippableFact]
    public async Task OciLayout_ByTag()
    {
        images.Require();
        await using var app = await OciImage.OpenAsync(ImageReference.Parse($"oci:{images.Layout}:app"));
        Assert.Equal(2, app.Layers.Count);
        Assert.Equal(["/bin/sh", "-c"], app.Config.Entrypoint);
        Assert.Equal(Platform.Default, app.Platform);
        var files = await ReadAll(app);
        Assert.Equal(OciImagesFixture.AppConf, Encoding.UTF8.GetString(files["etc/app.conf"]));
        await app.DownloadAsync(); // nothing to fetch for a local image

        await using var b = await OciImage.OpenAsync(ImageReference.Parse($"oci:{images.Layout}:base"));
        Assert.Single(b.Layers);
        Assert.Equal(app.Layers[0], b.Layers[0]);
    }

    [SkippableFact]
    public async Task OciLayout_TagMissingOrAmbiguous_ListsNames()
    {
        images.Require();
        var missing = await Assert.ThrowsAsync<ImageFormatException>(() => OciImage.OpenAsync(ImageReference.Parse($"oci:{images.Layout}:nope")));
        Assert.Contains("no image named 'nope'", missing.Message);
        Assert.Contains("app", missing.Message);
        Assert.Contains("base", missing.Message);
        var ambiguous = await Assert.ThrowsAsync<ImageFormatException>(() => OciImage.OpenAsync(ImageReference.Parse($"oci:{images.Layout}")));
        Assert.Contains("name one with oci:DIR:NAME", ambiguous.Message);
        await Assert.ThrowsAsync<DirectoryNotFoundException>(() => OciImage.OpenAsync(ImageReference.Parse("oci:/nonexistent/layout:x")));
        var notLayout = await Assert.ThrowsAsync<ImageFormatException>(() => OciImage.OpenAsync(ImageReference.Parse($"oci:{images.Dir}:x")));
        Assert.Contains("no oci-layout file", notLayout.Message);
    }

    [SkippableFact]
    public async Task OciLayout_TamperedLayer_ImageFormatException()
    {
        images.Require();
        string copy = TestEnvironment.NewTempDir("rff-layout");
        TestEnvironment.RunChecked("cp", ["-a", images.Layout + "/.", copy]);
        await using var image = await OciImage.OpenAsync(ImageReference.Parse($"oci:{copy}:app"));
        string blob = Path.Combine(copy, "blobs", "sha256", image.Layers[1].Digest["sha256:".Length..]);
        var bytes = File.ReadAllBytes(blob);
        bytes[bytes.Length / 2] ^= 0xFF;
        File.WriteAllBytes(blob, bytes);
        var e = await Assert.ThrowsAsync<ImageFormatException>(() => image.OpenLayerAsync(image.Layers[1]));
        Assert.Contains("does not match its digest", e.Message);
        Assert.Contains(image.Layers[1].Digest, e.Message);

        File.WriteAllBytes(blob, bytes[..^10]); // truncated
        var t = await Assert.ThrowsAsync<ImageFormatException>(() => image.OpenLayerAsync(image.Layers[1]));
        Assert.Contains("its descriptor says", t.Message);
    }

    [SkippableFact]
    public async Task DockerArchive_WrittenBySkopeo()
    {
        images.Require();
        await using var image = await OciImage.OpenAsync(ImageReference.Parse($"docker-archive:{images.Archive}"));
        Assert.Null(image.ManifestDigest);
        Assert.Equal(2, image.Layers.Count);
        Assert.All(image.Layers, l => Assert.Equal(LayerCompression.None, l.Compression));
        Assert.All(image.Layers, l => Assert.Equal(l.DiffId, l.Digest));
        Assert.Equal("/srv", image.Config.WorkingDir);
        var files = await ReadAll(image);
        Assert.Equal(OciImagesFixture.AppConf, Encoding.UTF8.GetString(files["etc/app.conf"]));

        // The same image from the registry has the same layers (diff_ids) and config.
        await using var pulled = await OciImage.OpenAsync(ImageReference.Parse($"docker://{images.Host}/test/app:gzip"),
            OciImagesFixture.Options(images.NewCache(), images.Host));
        Assert.Equal(pulled.Config.DiffIds, image.Config.DiffIds);

        await using var named = await OciImage.OpenAsync(ImageReference.Parse($"docker-archive:{images.Archive}:test/app:1"));
        Assert.Equal(image.ConfigDigest, named.ConfigDigest);
        var wrong = await Assert.ThrowsAsync<ImageFormatException>(() => OciImage.OpenAsync(ImageReference.Parse($"docker-archive:{images.Archive}:test/app:2")));
        Assert.Contains("docker.io/test/app:1", wrong.Message); // lists what the archive holds
    }

    [SkippableFact]
    public async Task DockerArchive_TamperedLayer_And_Compressed()
    {
        images.Require();
        string dir = TestEnvironment.NewTempDir("rff-archive");
        string copy = Path.Combine(dir, "app.tar");
        File.Copy(images.Archive, copy);
        await using (var image = await OciImage.OpenAsync(ImageReference.Parse($"docker-archive:{copy}")))
        {
            // Flip a byte inside the app layer's member (its content, found by the unique config file text).
            var bytes = File.ReadAllBytes(copy);
            int at = IndexOf(bytes, Encoding.ASCII.GetBytes(OciImagesFixture.AppConf));
            Assert.True(at > 0);
            bytes[at] ^= 0x20;
            File.WriteAllBytes(copy, bytes);
            var e = await Assert.ThrowsAsync<ImageFormatException>(() => image.OpenLayerAsync(image.Layers[1]));
            Assert.Contains("diff_id", e.Message);
        }
        await using (var input = File.OpenRead(images.Archive))
        await using (var gz = new System.IO.Compression.GZipStream(File.Create(Path.Combine(dir, "c.tar.gz")), System.IO.Compression.CompressionLevel.Fastest))
            await input.CopyToAsync(gz);
        var c = await Assert.ThrowsAsync<UnsupportedImageException>(() => OciImage.OpenAsync(ImageReference.Parse($"docker-archive:{Path.Combine(dir, "c.tar.gz")}")));
        Assert.Contains("compressed", c.Message);
    }

    private static int IndexOf(byte[] haystack, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= haystack.Length; i++)
            if (haystack.AsSpan(i, needle.Length).SequenceEqual(needle)) return i;
        return -1;
    }

    [Theory]
    [InlineData("gzip")]
    [InlineData("zstd")]
    public async Task DecompressionBomb_StopsAtTheLimit(string compression)
    {
        string dir = TestEnvironment.NewTempDir("rff-bomb");
        var w = new OciLayoutWriter(dir);
        w.AddLayer(OciLayoutWriter.ZeroFileTar("zeros", 300L << 20), compression); // 300 MiB of zeros: ~0.3 MiB gzip, ~10 KiB zstd
        w.Finish("bomb");
        await using var image = await OciImage.OpenAsync(ImageReference.Parse($"oci:{dir}:bomb"));
        Assert.True(image.Layers[0].Size < 1 << 20);
        await using var tar = await image.OpenLayerAsync(image.Layers[0]);
        var e = await Assert.ThrowsAsync<ImageFormatException>(() => tar.CopyToAsync(Stream.Null));
        Assert.Contains("decompresses to more than 268435456 bytes", e.Message);
        Assert.Contains("MaxLayerExpansion", e.Message);

        // A higher limit lets the same layer through.
        await using var generous = await OciImage.OpenAsync(ImageReference.Parse($"oci:{dir}:bomb"), new OciImageOptions { MaxLayerExpansion = 100_000 });
        await using var ok = await generous.OpenLayerAsync(generous.Layers[0]);
        await ok.CopyToAsync(Stream.Null);
    }

    [Fact]
    public async Task HandWrittenLayout_UncompressedAndZstdLayers()
    {
        string dir = TestEnvironment.NewTempDir("rff-layout");
        var w = new OciLayoutWriter(dir);
        w.AddLayer(OciLayoutWriter.FilesTar(("a.txt", "plain")), "none");
        w.AddLayer(OciLayoutWriter.FilesTar(("b.txt", "zstd")), "zstd");
        w.AddLayer(OciLayoutWriter.FilesTar(("c.txt", "docker gzip")), "gzip", "application/vnd.docker.image.rootfs.diff.tar.gzip");
        w.Finish();
        await using var image = await OciImage.OpenAsync(ImageReference.Parse($"oci:{dir}"));
        Assert.Equal([LayerCompression.None, LayerCompression.Zstd, LayerCompression.Gzip], image.Layers.Select(l => l.Compression));
        var files = await ReadAll(image);
        Assert.Equal(["a.txt", "b.txt", "c.txt"], files.Keys.Order());
        Assert.Equal("zstd", Encoding.UTF8.GetString(files["b.txt"]));
    }

    [Theory]
    [InlineData("application/vnd.example.unknown.v1+json", "manifest media type 'application/vnd.example.unknown.v1+json' is not supported")]
    [InlineData("application/vnd.docker.distribution.manifest.v1+prettyjws", "schema 1")]
    public async Task UnknownManifestMediaType_Refused(string mediaType, string expected)
    {
        string dir = TestEnvironment.NewTempDir("rff-layout");
        var w = new OciLayoutWriter(dir);
        w.AddLayer(OciLayoutWriter.FilesTar(("a.txt", "x")));
        w.Finish("odd", mediaType);
        var e = await Assert.ThrowsAsync<UnsupportedImageException>(() => OciImage.OpenAsync(ImageReference.Parse($"oci:{dir}:odd")));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public async Task UnknownLayerMediaType_Refused()
    {
        string dir = TestEnvironment.NewTempDir("rff-layout");
        var w = new OciLayoutWriter(dir);
        w.AddLayer(OciLayoutWriter.FilesTar(("a.txt", "x")), "gzip", "application/vnd.oci.image.layer.v1.tar+bzip2");
        w.Finish();
        var e = await Assert.ThrowsAsync<UnsupportedImageException>(() => OciImage.OpenAsync(ImageReference.Parse($"oci:{dir}")));
        Assert.Contains("'application/vnd.oci.image.layer.v1.tar+bzip2', which is not a tar layer", e.Message);
    }
}
