using System.Text.Json;
using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Oci;

/// <summary>
/// Container image references wherever a tree input is accepted (TreeInput): <c>vm</c>, <c>extract</c>, <c>fl pack</c>,
/// <c>lint</c>; <c>inspect</c> of a reference against <c>skopeo inspect --raw/--config</c>; and what <c>container</c>
/// reports (downloads, layers applied, rate, lint). Images from <see cref="OciImagesFixture"/> (buildah, pushed to
/// docker-registry); the umoci unpack of the same image is the oracle for trees.
/// </summary>
[Collection(OciImagesCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class TreeInputCliTests(OciImagesFixture images)
{
    private (int Code, string StdOut, string StdErr) Cli(string work, string repoTag, params string[] args) =>
        ContainerFlistTests.Cli(work, [.. args, "--insecure-registry", images.HostOf(repoTag), "--cache", Path.Combine(work, "cache")]);

    private static void AssertOk((int Code, string StdOut, string StdErr) r, string what) =>
        Assert.True(r.Code == 0, $"{what}: exit {r.Code}\n{r.StdErr}\n{r.StdOut}");

    /// <summary>The dump lines of the oracle under <paramref name="prefixes"/> (what the vm steps leave alone).</summary>
    private static string[] Under(string[] dump, params string[] prefixes) =>
        dump.Where(l => prefixes.Any(p => l.StartsWith(p, StringComparison.Ordinal))).ToArray();

    [SkippableFact]
    public void Vm_FromARegistryImage_HoldsTheImageTreeAndTheKernel()
    {
        images.Require();
        var oracle = RootfsDump.Of(images.Oracle("test/layered:gzip"));
        string work = images.NewDir("vm");
        string kernel = Path.Combine(work, "kernel-file"), initrd = Path.Combine(work, "initrd-file");
        File.WriteAllText(kernel, "not really a kernel\n");
        File.WriteAllText(initrd, "not really an initrd\n");
        string output = Path.Combine(work, "vm.tar");
        var r = Cli(work, "test/layered:gzip", "vm", images.Ref("test/layered:gzip"), "-o", output,
            "--kernel", $"vmlinuz={kernel},initrd={initrd}", "--no-lint");
        AssertOk(r, "vm docker://");
        Assert.Matches(@"rootfsforge: layer (\d+)/\1 applied", r.StdErr);
        var dump = RootfsDump.Of(output);
        // The image's own files (not touched by the ZOS preparation) are exactly umoci's.
        string[] kept = ["data/", "opt/", "repl/", "bin/", "etc/shared-too", "etc/xfile"];
        RootfsDump.AssertSame(Under(oracle, kept), Under(dump, kept), "vm docker://… -o X.tar");
        Assert.NotNull(RootfsDump.Line(dump, "boot/vmlinuz"));
        Assert.NotNull(RootfsDump.Line(dump, "boot/initrd.img"));
        File.Delete(output);
        Assert.Equal(["cache", "initrd-file", "kernel-file"], Directory.GetFileSystemEntries(work).Select(Path.GetFileName).Order());
    }

    [SkippableFact]
    public void ExtractAndFlPack_TakeReferences_EqualTheOracle()
    {
        images.Require();
        var oracle = RootfsDump.Of(images.Oracle("test/layered:v2s2"));
        string work = images.NewDir("extract");
        string tar = Path.Combine(work, "x.tar");
        AssertOk(Cli(work, "test/layered:v2s2", "extract", images.Ref("test/layered:v2s2"), "-o", tar, "-q"), "extract docker://");
        RootfsDump.AssertSame(oracle, RootfsDump.Of(tar), "extract docker://… -o X.tar");

        // fl pack of the same reference, read back through fl extract: the oracle as far as a .fl holds it.
        string fl = Path.Combine(work, "x.fl"), store = Path.Combine(work, "store"), back = Path.Combine(work, "back.tar");
        AssertOk(Cli(work, "test/layered:v2s2", "fl", "pack", images.Ref("test/layered:v2s2"), "-o", fl, "--store", "dir://" + store, "-q"), "fl pack docker://");
        var (code, _, err) = ContainerFlistTests.Cli(work, "fl", "extract", fl, "-o", back);
        Assert.True(code == 0, err);
        var flOracle = RootfsDump.Of(images.Oracle("test/layered:v2s2"), RootfsDump.Options.Flist);
        // A .fl holds no xattrs, FIFOs as such or hard links (docs/flist-format.md): compare regular files and symlinks.
        static string[] FilesAndLinks(string[] d) => d.Where(l => l.Split('\t')[1] is "file" or "sym").ToArray();
        RootfsDump.AssertSame(FilesAndLinks(flOracle), FilesAndLinks(RootfsDump.Of(back, RootfsDump.Options.Flist)), "fl pack docker://… then fl extract");
        AssertStoreHoldsWhatTheFlistNames(fl, store);

        // extract to a .fl (the layers' contents encoded as they are decompressed, as for fl pack): the same tree.
        string fl2 = Path.Combine(work, "x2.fl"), store2 = Path.Combine(work, "store2"), back2 = Path.Combine(work, "back2.tar");
        AssertOk(Cli(work, "test/layered:v2s2", "extract", images.Ref("test/layered:v2s2"), "-o", fl2, "--store", "dir://" + store2, "-q"), "extract docker://… -o X.fl");
        (code, _, err) = ContainerFlistTests.Cli(work, "fl", "extract", fl2, "-o", back2);
        Assert.True(code == 0, err);
        RootfsDump.AssertSame(RootfsDump.Of(back, RootfsDump.Options.Flist), RootfsDump.Of(back2, RootfsDump.Options.Flist), "extract docker://… -o X.fl");
        AssertStoreHoldsWhatTheFlistNames(fl2, store2);
    }

    private static void AssertStoreHoldsWhatTheFlistNames(string fl, string store)
    {
        var named = TestEnvironment.RunChecked("sqlite3", [fl, "SELECT DISTINCT lower(hex(id)) FROM block"])
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal);
        Assert.Equal(named, Directory.EnumerateFiles(store).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal));
    }

    [SkippableFact]
    public void Lint_OfAReference_ChecksTheContainerFlistMadeOfIt()
    {
        images.Require();
        string work = images.NewDir("lint");
        var r = Cli(work, "test/layered:gzip", "lint", images.Ref("test/layered:gzip"));
        AssertOk(r, "lint docker://");
        // ENTRYPOINT ["/bin/sh", "-c"]: /bin/sh is busybox's applet link, resolved inside the image.
        Assert.Contains("C2   pass  entrypoint /bin/sh -> /bin/busybox (executable)", r.StdOut);
        Assert.Contains("C3   warn  advisory: no executable /sbin/zinit", r.StdOut);
        Assert.Contains("lint (container): passed", r.StdOut);
    }

    [SkippableTheory]
    [InlineData("test/layered:gzip")]
    [InlineData("test/layered:v2s2")]
    [InlineData("test/layered:zstd")]
    [InlineData("test/ctr-multi:1")]
    public void Inspect_AgreesWithSkopeo(string repoTag)
    {
        images.Require();
        string work = images.NewDir("inspect");
        var r = Cli(work, repoTag, "inspect", images.Ref(repoTag), "--json");
        AssertOk(r, "inspect --json");
        var ours = JsonDocument.Parse(r.StdOut).RootElement;
        Assert.False(Directory.Exists(Path.Combine(work, "cache", "sha256")) &&
                     Directory.GetFiles(Path.Combine(work, "cache", "sha256")).Length > 1, "inspect downloaded layers");

        // skopeo inspect --raw: the bytes the registry serves for the tag; their sha256 is the top-level digest.
        string top = RawDigest(images.Ref(repoTag));
        var raw = images.RawManifest(repoTag);
        JsonElement manifest;
        if (raw.TryGetProperty("manifests", out var entries))
        {
            Assert.Equal(top, ours.GetProperty("index").GetProperty("digest").GetString());
            Assert.Equal(raw.GetProperty("mediaType").GetString(), ours.GetProperty("index").GetProperty("mediaType").GetString());
            var listed = entries.EnumerateArray().Select(e => e.GetProperty("platform")).Select(p =>
                $"{p.GetProperty("os").GetString()}/{p.GetProperty("architecture").GetString()}" +
                (p.TryGetProperty("variant", out var v) ? "/" + v.GetString() : "")).ToArray();
            Assert.Equal(listed, ours.GetProperty("index").GetProperty("platforms").EnumerateArray().Select(e => e.GetString()).ToArray());
            Assert.Equal("linux/amd64", ours.GetProperty("platform").GetString());
            var amd64 = entries.EnumerateArray().Single(e => e.GetProperty("platform").GetProperty("architecture").GetString() == "amd64");
            string digest = amd64.GetProperty("digest").GetString()!;
            Assert.Equal(digest, ours.GetProperty("manifest").GetProperty("digest").GetString());
            string byDigest = $"docker://{images.HostOf(repoTag)}/{repoTag.Split(':')[0]}@{digest}";
            manifest = JsonDocument.Parse(images.Buildah.Skopeo("inspect", "--raw", "--tls-verify=false", byDigest)).RootElement;
        }
        else
        {
            Assert.Equal(JsonValueKind.Null, ours.GetProperty("index").ValueKind);
            Assert.Equal(top, ours.GetProperty("manifest").GetProperty("digest").GetString());
            manifest = raw;
        }
        Assert.Equal(manifest.GetProperty("mediaType").GetString(), ours.GetProperty("manifest").GetProperty("mediaType").GetString());
        Assert.Equal(manifest.GetProperty("config").GetProperty("digest").GetString(), ours.GetProperty("config").GetProperty("digest").GetString());
        var layers = manifest.GetProperty("layers").EnumerateArray().Select(l =>
            $"{l.GetProperty("digest").GetString()} {l.GetProperty("mediaType").GetString()} {l.GetProperty("size").GetInt64()}").ToArray();
        Assert.Equal(layers, ours.GetProperty("layers").EnumerateArray().Select(l =>
            $"{l.GetProperty("digest").GetString()} {l.GetProperty("mediaType").GetString()} {l.GetProperty("size").GetInt64()}").ToArray());
        Assert.Equal(manifest.GetProperty("layers").EnumerateArray().Select(l => l.GetProperty("digest").GetString()).Distinct()
                .Sum(d => manifest.GetProperty("layers").EnumerateArray().First(l => l.GetProperty("digest").GetString() == d).GetProperty("size").GetInt64()),
            ours.GetProperty("totalSize").GetInt64());

        // skopeo inspect --config: the image config.
        var config = images.Config(repoTag).GetProperty("config");
        var oc = ours.GetProperty("config");
        static string[] Strings(JsonElement e, string name) =>
            e.TryGetProperty(name, out var a) && a.ValueKind == JsonValueKind.Array ? a.EnumerateArray().Select(x => x.GetString()!).ToArray() : [];
        static string Str(JsonElement e, string name) => e.TryGetProperty(name, out var s) ? s.GetString() ?? "" : "";
        Assert.Equal(Strings(config, "Entrypoint"), Strings(oc, "entrypoint"));
        Assert.Equal(Strings(config, "Cmd"), Strings(oc, "cmd"));
        Assert.Equal(Strings(config, "Env"), Strings(oc, "env"));
        Assert.Equal(Str(config, "WorkingDir"), Str(oc, "workingDir"));
        Assert.Equal(Str(config, "User"), Str(oc, "user"));
        var ports = config.TryGetProperty("ExposedPorts", out var p) ? p.EnumerateObject().Select(x => x.Name).Order().ToArray() : [];
        Assert.Equal(ports, Strings(oc, "exposedPorts").Order().ToArray());
        if (config.TryGetProperty("Labels", out var labels) && labels.ValueKind == JsonValueKind.Object)
            foreach (var l in labels.EnumerateObject())
                Assert.Equal(l.Value.GetString(), oc.GetProperty("labels").GetProperty(l.Name).GetString());

        // The text form names the same manifest and every layer.
        var text = Cli(work, repoTag, "inspect", images.Ref(repoTag));
        AssertOk(text, "inspect");
        Assert.Contains(ours.GetProperty("manifest").GetProperty("digest").GetString()!, text.StdOut);
        foreach (var l in ours.GetProperty("layers").EnumerateArray()) Assert.Contains(l.GetProperty("digest").GetString()!, text.StdOut);
    }

    [SkippableFact]
    public void Inspect_OfALayoutAndAnArchive_NamesTheirConfig()
    {
        images.Require();
        string work = images.NewDir("inspect-local");
        // skopeo's view of the layout's manifest names the config; the archive holds the same image.
        string configDigest = JsonDocument.Parse(images.Buildah.Skopeo("inspect", "--raw", $"oci:{images.LayeredLayout}:layered"))
            .RootElement.GetProperty("config").GetProperty("digest").GetString()!;
        foreach (var reference in new[] { $"oci:{images.LayeredLayout}:layered", $"docker-archive:{images.LayeredArchive}" })
        {
            var (code, stdout, stderr) = ContainerFlistTests.Cli(work, "inspect", reference, "--json");
            Assert.True(code == 0, stderr);
            var ours = JsonDocument.Parse(stdout).RootElement;
            Assert.Equal(configDigest, ours.GetProperty("config").GetProperty("digest").GetString());
            Assert.Equal(images.RawManifest("test/layered:gzip").GetProperty("layers").GetArrayLength(), ours.GetProperty("layers").GetArrayLength());
        }
    }

    [SkippableFact]
    public void Container_ReportsDownloadsLayersRateAndLint()
    {
        images.Require();
        string work = images.NewDir("progress");
        int n = images.RawManifest("test/layered:gzip").GetProperty("layers").GetArrayLength();
        var cold = Cli(work, "test/layered:gzip", "container", images.Ref("test/layered:gzip"), "-o", Path.Combine(work, "a.tar"));
        AssertOk(cold, "cold");
        Assert.Matches($@"rootfsforge: layers {n}/{n}, .* \(\d[\d.]* (KiB|MiB|B) downloaded\), [\d.]+ (B|KiB|MiB|GiB)/s", cold.StdErr);
        for (int i = 1; i <= n; i++) Assert.Contains($"rootfsforge: layer {i}/{n} applied", cold.StdErr);
        Assert.Matches($@"{n} layers, [\d.]+ (KiB|MiB) downloaded in [\d.]+ s \([\d.]+ (B|KiB|MiB|GiB)/s\), .*; merged in [\d.]+ s", cold.StdErr);
        Assert.Contains("rootfsforge: lint (container): passed, ", cold.StdErr); // warnings: C3 no zinit, V10 the FIFO
        Assert.Contains("rootfsforge: warning: lint C3   warn  advisory: no executable /sbin/zinit", cold.StdErr);
        Assert.Contains("entries,", cold.StdErr);

        var warm = Cli(work, "test/layered:gzip", "container", images.Ref("test/layered:gzip"), "-o", Path.Combine(work, "b.tar"), "--no-lint");
        AssertOk(warm, "warm");
        Assert.Contains("(0 B downloaded)", warm.StdErr);
        Assert.Matches($@"{n} layers, all [\d.]+ (KiB|MiB) from the cache", warm.StdErr);
        Assert.DoesNotContain("lint", warm.StdErr);
    }

    /// <summary>sha256 of what <c>skopeo inspect --raw</c> writes (read as bytes through a pipe, not trimmed).</summary>
    private static string RawDigest(string reference)
    {
        var (code, stdout, stderr) = TestEnvironment.Run("sh", ["-c", "skopeo inspect --raw --tls-verify=false \"$1\" | sha256sum", "sh", reference]);
        Assert.True(code == 0, stderr);
        return "sha256:" + stdout.Split(' ')[0];
    }
}
