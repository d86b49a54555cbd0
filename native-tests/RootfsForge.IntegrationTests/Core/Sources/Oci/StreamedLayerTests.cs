using System.Security.Cryptography;
using RootfsForge.Sources.Oci;
using RootfsForge.Tree;
using Xunit;

namespace RootfsForge.NativeTests.Oci;

/// <summary>
/// <see cref="OciTreeSource"/> decompresses a layer while its blob downloads (<c>DownloadingBlobStream</c>): the merged
/// tree must be the one a download-then-decompress gives, whatever happens to the download, and a blob that fails its
/// check must fail the merge with the digest error, leaving nothing in the cache or the spool folder.
/// </summary>
[Collection(OciImagesCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class StreamedLayerTests(OciImagesFixture images)
{
    private static bool IsBlob(HttpExchange x, string digest) => x.Path.Contains("/blobs/sha256:") && x.Path.EndsWith(digest, StringComparison.Ordinal);

    /// <summary>Every entry: type, mode, owner, size, link target and a SHA-256 of the content.</summary>
    private static async Task<List<string>> DumpAsync(OciTreeSource tree)
    {
        var lines = new List<string>();
        await foreach (var e in tree.WalkAsync())
        {
            string content = "";
            if (e.Type == EntryType.RegularFile && e.OpenContent is { } open)
            {
                using var c = open();
                var bytes = new byte[c.Length];
                for (int done = 0; done < bytes.Length;)
                {
                    int n = await c.ReadAtAsync(done, bytes.AsMemory(done));
                    Assert.True(n > 0, $"{e.Path}: content ended at {done} of {bytes.Length}");
                    done += n;
                }
                content = Convert.ToHexString(SHA256.HashData(bytes));
            }
            lines.Add($"{e.Path} {e.Type} {Convert.ToString(e.Permissions, 8)} {e.Uid}:{e.Gid} {e.Size} {e.LinkTarget} {content}");
        }
        return lines;
    }

    /// <summary>The tree of test/app:gzip read straight from the registry, through no proxy.</summary>
    private async Task<List<string>> ReferenceDumpAsync()
    {
        await using var image = await OciImage.OpenAsync(ImageReference.Parse($"docker://{images.Host}/test/app:gzip"),
            OciImagesFixture.Options(images.NewCache(), images.Host));
        await using var tree = await OciTreeSource.OpenAsync(image);
        return await DumpAsync(tree);
    }

    private async Task<(OciImage Image, string Cache, string Spool)> OpenAsync(string host, string repoTag = "test/app:gzip")
    {
        string cache = images.NewCache();
        var image = await OciImage.OpenAsync(ImageReference.Parse($"docker://{host}/{repoTag}"), OciImagesFixture.Options(cache, host));
        return (image, cache, images.NewDir("spool"));
    }

    /// <summary>
    /// The merge through the faults equals a direct pull, and holds the busybox binary the base image was built from
    /// (byte for byte, against the host's file); the good blob is cached, nothing is left in the partial area or spool.
    /// </summary>
    private async Task AssertMergedAndCachedAsync(OciImage image, LayerDescriptor layer, string cache, string spool)
    {
        await using (var tree = await OciTreeSource.OpenAsync(image, new OciTreeSourceOptions { TemporaryDirectory = spool }))
        {
            var dump = await DumpAsync(tree);
            Assert.Equal(await ReferenceDumpAsync(), dump);
            string busybox = Convert.ToHexString(SHA256.HashData(File.ReadAllBytes("/bin/busybox")));
            Assert.Contains(dump, l => l.StartsWith("bin/busybox ", StringComparison.Ordinal) && l.EndsWith(" " + busybox, StringComparison.Ordinal));
        }
        Assert.Equal(File.ReadAllBytes(images.RegistryBlobPath(layer.Digest)),
            File.ReadAllBytes(Path.Combine(cache, "sha256", layer.Digest["sha256:".Length..])));
        Assert.Empty(Directory.GetFiles(Path.Combine(cache, "partial")));
        Assert.Empty(Directory.GetFileSystemEntries(spool));
    }

    [SkippableFact]
    public async Task ConnectionCutMidBlob_ResumedWithRange_SameTree()
    {
        images.Require();
        using var proxy = new FaultProxy(images.RegistryOrigin);
        var (image, cache, spool) = await OpenAsync(proxy.Host);
        await using var _ = image;
        var layer = image.Layers[0]; // busybox, ~1 MiB
        int cuts = 0;
        proxy.Rule = async (x, p) =>
        {
            if (!IsBlob(x, layer.Digest) || Interlocked.Increment(ref cuts) > 2) return false;
            await p.ForwardAsync(x, cutAfter: (int)(layer.Size / 3));
            return true;
        };
        await AssertMergedAndCachedAsync(image, layer, cache, spool);
        var requests = proxy.Log.Where(e => e.Target.EndsWith(layer.Digest)).ToArray();
        Assert.Equal(3, requests.Length);
        Assert.Equal($"bytes={layer.Size / 3}-", requests[1].Range);
    }

    [SkippableFact]
    public async Task ServerIgnoresRange_DownloadStartsOver_SameTree()
    {
        images.Require();
        using var proxy = new FaultProxy(images.RegistryOrigin);
        var (image, cache, spool) = await OpenAsync(proxy.Host);
        await using var _ = image;
        var layer = image.Layers[0];
        var whole = File.ReadAllBytes(images.RegistryBlobPath(layer.Digest));
        int requests = 0;
        proxy.Rule = async (x, p) =>
        {
            if (!IsBlob(x, layer.Digest)) return false;
            if (Interlocked.Increment(ref requests) == 1)
            {
                await p.ForwardAsync(x, cutAfter: whole.Length / 2);
                return true;
            }
            // The resumed request is answered from byte 0 with 200, as a server without Range support does — late
            // enough that the decompression has read part of the first answer, whose bytes the new start voids.
            await Task.Delay(300);
            p.Record(x, 200);
            await x.RespondAsync(200, whole);
            return true;
        };
        await AssertMergedAndCachedAsync(image, layer, cache, spool);
        Assert.Equal([null, $"bytes={whole.Length / 2}-"], proxy.Log.Where(e => e.Target.EndsWith(layer.Digest)).Select(e => e.Range));
    }

    [SkippableFact]
    public async Task WholeBadFirstAnswer_ThenGoodFromByteZero_TreeFromTheCheckedBlob()
    {
        images.Require();
        using var proxy = new FaultProxy(images.RegistryOrigin);
        var (image, cache, spool) = await OpenAsync(proxy.Host);
        await using var _ = image;
        var layer = image.Layers[0];
        var whole = File.ReadAllBytes(images.RegistryBlobPath(layer.Digest));
        var bad = whole.ToArray();
        bad[bad.Length / 2] ^= 0x01;
        int requests = 0;
        proxy.Rule = async (x, p) =>
        {
            if (!IsBlob(x, layer.Digest)) return false;
            p.Record(x, 200);
            if (Interlocked.Increment(ref requests) == 1)
            {
                // Every byte of the blob, all of them wrong in one place, then the connection drops one byte short of
                // what the header promised: the client has read the whole (bad) blob and asks for the rest.
                await x.WriteHeadAsync(200, whole.Length + 1);
                await x.Connection.WriteAsync(bad);
                await x.Connection.FlushAsync();
                return true;
            }
            await x.RespondAsync(200, whole); // the Range ignored: the good blob from byte 0
            return true;
        };
        await AssertMergedAndCachedAsync(image, layer, cache, spool);
        Assert.Equal([null, $"bytes={whole.Length}-"], proxy.Log.Where(e => e.Target.EndsWith(layer.Digest)).Select(e => e.Range));
    }

    [SkippableTheory]
    [InlineData(0.5)] // inside the deflate data: the decompressor may fail first, the digest error is still the one reported
    [InlineData(0.999)] // in the gzip trailer: everything decompresses, only the check finds it
    public async Task TamperedBlob_DigestError_NothingKept(double where)
    {
        images.Require();
        string repoTag = images.PushUnique("streamed");
        var (image, cache, spool) = await OpenAsync(images.Host, repoTag);
        await using var _ = image;
        var layer = image.Layers[^1];
        string path = images.RegistryBlobPath(layer.Digest);
        var bytes = File.ReadAllBytes(path);
        bytes[(int)(bytes.Length * where)] ^= 0x01;
        File.WriteAllBytes(path, bytes);
        var e = await Assert.ThrowsAsync<ImageFormatException>(() => OciTreeSource.OpenAsync(image, new OciTreeSourceOptions { TemporaryDirectory = spool }));
        Assert.Contains("does not match its digest", e.Message);
        Assert.Contains(layer.Digest, e.Message);
        string hex = layer.Digest["sha256:".Length..];
        Assert.False(File.Exists(Path.Combine(cache, "sha256", hex)));
        Assert.False(File.Exists(Path.Combine(cache, "partial", "sha256-" + hex)));
        Assert.Empty(Directory.GetFileSystemEntries(spool));
    }
}
