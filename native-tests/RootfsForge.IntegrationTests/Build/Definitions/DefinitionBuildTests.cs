using System.Diagnostics;
using System.Net;
using RootfsForge.Definitions;
using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Definitions;

/// <summary>
/// A file server for these tests (native-tests/data/definitions/range-server.py): Python serving a folder with Range
/// support, a /drop/ prefix that cuts the first full response short, 404 for anything else, and a log of every request.
/// </summary>
internal sealed class RangeServer : IDisposable
{
    private readonly Process _process;

    public RangeServer(string root)
    {
        TestEnvironment.RequireTool("python3");
        Log = Path.Combine(TestEnvironment.NewTempDir("rff-srv"), "requests.log");
        File.WriteAllText(Log, "");
        var psi = new ProcessStartInfo("python3") { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(TestEnvironment.DataDir, "definitions", "range-server.py"), root, Log }) psi.ArgumentList.Add(a);
        _process = Process.Start(psi)!;
        var port = _process.StandardOutput.ReadLine() ?? throw new InvalidOperationException("range-server.py did not start");
        BaseUrl = $"http://127.0.0.1:{port.Trim()}/";
    }

    public string BaseUrl { get; }

    /// <summary>One line per request: PATH RANGE-or-dash.</summary>
    public string Log { get; }

    public void Dispose()
    {
        _process.Kill();
        _process.WaitForExit();
        _process.Dispose();
    }
}

/// <summary>
/// <c>rootfsforge build</c> (issue 11 §2): the source download against a real HTTP server (checksums from sha256sum,
/// content compared byte for byte), the exit codes on a wrong checksum and a 404, and — as root, on the cached Debian 12
/// image served over HTTP — build, "up to date", a changed recipe, and a second build that is byte-identical.
/// </summary>
public class DefinitionBuildTests
{
    private const string DebianQcow2 = "/var/cache/rootfsforge/debian12-zstd.qcow2";

    /// <summary>A small cloud image made the way distributions make them: mke2fs -d a tree, qemu-img convert to qcow2.</summary>
    private static string MakeCloudImage(string dir)
    {
        TestEnvironment.RequireTool("mke2fs");
        TestEnvironment.RequireTool("qemu-img");
        var tree = Path.Combine(dir, "tree");
        Directory.CreateDirectory(Path.Combine(tree, "etc"));
        File.WriteAllText(Path.Combine(tree, "etc", "os-release"), "ID=sample\n");
        var random = new byte[3 << 20];
        new Random(11).NextBytes(random);
        File.WriteAllBytes(Path.Combine(tree, "etc", "blob"), random);
        var raw = Path.Combine(dir, "disk.raw");
        TestEnvironment.RunChecked("mke2fs", ["-q", "-t", "ext4", "-d", tree, raw, "16M"]);
        var qcow2 = Path.Combine(dir, "sample.qcow2");
        TestEnvironment.RunChecked("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", raw, qcow2]);
        File.Delete(raw);
        return qcow2;
    }

    private static string Sha256Sum(string file) => TestEnvironment.RunChecked("sha256sum", [file]).Split(' ')[0];

    [SkippableFact]
    public async Task Fetch_ChecksumFile_Resume_Mismatch_NotFound()
    {
        var served = TestEnvironment.NewTempDir("rff-served");
        var image = MakeCloudImage(served);
        var hex = Sha256Sum(image);
        File.WriteAllText(Path.Combine(served, "SHA256SUMS"), $"0000000000000000000000000000000000000000000000000000000000000000  other.img\n{hex} *sample.qcow2\n");
        File.WriteAllText(Path.Combine(served, "BSDSUMS"), $"SHA256 (sample.qcow2) = {hex.ToUpperInvariant()}\n");
        using var server = new RangeServer(served);
        var cache = TestEnvironment.NewTempDir("rff-cache");
        using var fetcher = new SourceFetcher(cache);

        var url = new Uri(server.BaseUrl + "sample.qcow2");
        Assert.Equal(hex, await fetcher.ExpectedSha256Async(new UrlSource(url, null, new Uri(server.BaseUrl + "SHA256SUMS")), default));
        Assert.Equal(hex, await fetcher.ExpectedSha256Async(new UrlSource(url, null, new Uri(server.BaseUrl + "BSDSUMS")), default));
        await Assert.ThrowsAsync<InvalidDataException>(() => fetcher.ExpectedSha256Async(
            new UrlSource(new Uri(server.BaseUrl + "missing.img"), null, new Uri(server.BaseUrl + "SHA256SUMS")), default));

        // The first response is cut at 40 %: the fetcher resumes with a Range request and the result is the file.
        var path = await fetcher.FetchAsync(new Uri(server.BaseUrl + "drop/sample.qcow2"), hex, default);
        Assert.Equal(File.ReadAllBytes(image), File.ReadAllBytes(path));
        Assert.Equal(hex, Sha256Sum(path));
        var log = File.ReadAllLines(server.Log);
        Assert.Contains(log, l => l.StartsWith("/drop/sample.qcow2 bytes=", StringComparison.Ordinal) && !l.EndsWith("bytes=0-", StringComparison.Ordinal));

        // Cached: no request.
        int requests = log.Length;
        Assert.Equal(path, await fetcher.FetchAsync(url, hex, default));
        Assert.Equal(requests, File.ReadAllLines(server.Log).Length);

        // A wrong checksum: refused, nothing kept in the cache.
        var wrong = new string('a', 64);
        var e = await Assert.ThrowsAsync<ImageFormatException>(() => fetcher.FetchAsync(url, wrong, default));
        Assert.Equal(ImageErrorKind.ChecksumMismatch, e.Kind);
        Assert.False(File.Exists(Path.Combine(cache, "sha256", wrong)));
        Assert.Empty(Directory.GetFiles(Path.Combine(cache, "partial")));

        var notFound = await Assert.ThrowsAsync<HttpRequestException>(() => fetcher.FetchAsync(new Uri(server.BaseUrl + "nothere.qcow2"), wrong, default));
        Assert.Equal(HttpStatusCode.NotFound, notFound.StatusCode);
    }

    [SkippableFact]
    public void Cli_WrongChecksumIsExit3_NotFoundIsExit1_NothingWritten()
    {
        var served = TestEnvironment.NewTempDir("rff-served");
        MakeCloudImage(served);
        using var server = new RangeServer(served);
        var dir = Path.Combine(TestEnvironment.NewTempDir("rff-build"), "images");
        Directory.CreateDirectory(dir);
        var output = Path.Combine(Path.GetDirectoryName(dir)!, "out");
        var cache = TestEnvironment.NewTempDir("rff-cache");
        File.WriteAllText(Path.Combine(dir, "bad.yaml"),
            $"name: bad\nkind: vm\nfrom: {{url: '{server.BaseUrl}sample.qcow2', sha256: '{new string('b', 64)}'}}\noutputs: [tar.zst]\n");
        File.WriteAllText(Path.Combine(dir, "gone.yaml"),
            $"name: gone\nkind: vm\nfrom: {{url: '{server.BaseUrl}gone.qcow2', sha256: '{new string('b', 64)}'}}\noutputs: [tar.zst]\n");
        File.WriteAllText(Path.Combine(dir, "typo.yaml"), "name: typo\nkind: vm\nfrom: {path: x}\noutputs: [tar.zst]\ncolour: red\n");

        var bad = TestEnvironment.RunCli("build", Path.Combine(dir, "bad.yaml"), "-O", output, "--cache", cache);
        Assert.True(bad.ExitCode == 3, bad.StdErr);
        Assert.Contains("SHA-256", bad.StdErr, StringComparison.Ordinal);
        var gone = TestEnvironment.RunCli("build", Path.Combine(dir, "gone.yaml"), "-O", output, "--cache", cache);
        Assert.True(gone.ExitCode == 1, gone.StdErr);
        Assert.Contains("404", gone.StdErr, StringComparison.Ordinal);
        var typo = TestEnvironment.RunCli("build", Path.Combine(dir, "typo.yaml"), "-O", output);
        Assert.True(typo.ExitCode == 3, typo.StdErr);
        Assert.Contains("typo.yaml:5:1: unknown key 'colour'", typo.StdErr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(output) && Directory.EnumerateFileSystemEntries(output).Any());
        Assert.Empty(Directory.GetFiles(Path.Combine(cache, "sha256")));
    }

    /// <summary>
    /// The Debian 12 test image over HTTP (checksum file), a recipe, a user and a copied file: build, then "up to date"
    /// (nothing touched), then a changed recipe rebuilds, then a forced build elsewhere gives byte-identical outputs.
    /// </summary>
    [SkippableFact]
    public void Build_UpToDate_ChangedRecipe_Rebuilds_Reproducibly()
    {
        TestEnvironment.RequireRoot("the vm pipeline runs commands in a chroot");
        Skip.IfNot(File.Exists(DebianQcow2), $"{DebianQcow2} (tools/make-debian-image.sh) is not there");
        TestEnvironment.RequireTool("dpkg-query");
        var served = TestEnvironment.NewTempDir("rff-served");
        File.CreateSymbolicLink(Path.Combine(served, "debian.qcow2"), DebianQcow2);
        var hex = Sha256Sum(DebianQcow2);
        File.WriteAllText(Path.Combine(served, "SHA256SUMS"), $"{hex}  debian.qcow2\n");
        using var server = new RangeServer(served);

        var work = TestEnvironment.NewTempDir("rff-build");
        var images = Path.Combine(work, "images");
        Directory.CreateDirectory(Path.Combine(images, "recipes"));
        File.WriteAllText(Path.Combine(images, "deb.yaml"), $"""
            name: deb
            kind: vm
            from:
              url: {server.BaseUrl}debian.qcow2
              sha256sums: {server.BaseUrl}SHA256SUMS
            include: [{"{"}recipe: motd, with: {"{"}who: builders{"}"}{"}"}]
            users: [{"{"}name: alice, uid: 1500, groups: [forge]{"}"}]
            outputs: [tar.zst, {"{"}fl: {"{"}stores: ["dir://{work}/store"]{"}"}{"}"}]
            metadata: {"{"}version: "1"{"}"}
            """);
        File.WriteAllText(Path.Combine(images, "recipes", "motd.yaml"), "params: {who: ~}\nfiles: [{path: /etc/motd, content: \"hello {{who}}\\n\", mode: \"0640\"}]\n");
        var cache = Path.Combine(work, "cache");
        var out1 = Path.Combine(work, "out1");
        string[] Build(string output, params string[] more) => ["build", Path.Combine(images, "deb.yaml"), "-O", output, "--cache", cache, .. more];

        var first = TestEnvironment.RunCli(Build(out1));
        Assert.True(first.ExitCode == 0, first.StdErr);
        var tar = Path.Combine(out1, "deb.tar.zst");
        Assert.Equal("hello builders\n", TestEnvironment.RunChecked("tar", ["--zstd", "-xOf", tar, "./etc/motd"]));
        Assert.Contains("alice:x:1500:", TestEnvironment.RunChecked("tar", ["--zstd", "-xOf", tar, "./etc/passwd"]), StringComparison.Ordinal);
        Assert.Contains("-rw-r----- 0/0", TestEnvironment.RunChecked("tar", ["--zstd", "-tvf", tar, "./etc/motd"]), StringComparison.Ordinal);

        var manifest = BuildManifest.Parse(File.ReadAllBytes(Path.Combine(out1, "deb.build.json")));
        Assert.Equal("sha256:" + hex, manifest.Source.Digest);
        Assert.Equal(Sha256Sum(tar), manifest.Outputs.Single(o => o.Kind == "tar.zst").Sha256);
        Assert.True(manifest.Outputs.Single(o => o.Kind == "fl").Blocks > 0);
        // dpkg-query reads the tree's own database: the manifest lists exactly its installed packages.
        var admin = Path.Combine(work, "dpkg");
        Directory.CreateDirectory(admin);
        TestEnvironment.RunChecked("tar", ["--zstd", "-xf", tar, "-C", admin, "./var/lib/dpkg"]);
        var dpkg = TestEnvironment.RunChecked("dpkg-query", ["--admindir", Path.Combine(admin, "var/lib/dpkg"), "-W", "-f", "${db:Status-Abbrev}${Package} ${Version}\n"])
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("ii ", StringComparison.Ordinal)).Select(l => l[3..].Trim()).Order(StringComparer.Ordinal);
        Assert.Equal(dpkg, manifest.Packages.Select(p => $"{p.Name} {p.Version}").Order(StringComparer.Ordinal));

        var before = Directory.GetFiles(out1).ToDictionary(f => f, f => (File.GetLastWriteTimeUtc(f), new FileInfo(f).Length));
        var again = TestEnvironment.RunCli(Build(out1));
        Assert.True(again.ExitCode == 0, again.StdErr);
        Assert.Contains("deb: up to date", again.StdErr, StringComparison.Ordinal);
        Assert.Equal(before, Directory.GetFiles(out1).ToDictionary(f => f, f => (File.GetLastWriteTimeUtc(f), new FileInfo(f).Length)));

        File.WriteAllText(Path.Combine(images, "recipes", "motd.yaml"), "params: {who: ~}\nfiles: [{path: /etc/motd, content: \"hi {{who}}\\n\", mode: \"0640\"}]\n");
        var changed = TestEnvironment.RunCli(Build(out1));
        Assert.True(changed.ExitCode == 0, changed.StdErr);
        Assert.DoesNotContain("up to date", changed.StdErr, StringComparison.Ordinal);
        Assert.Equal("hi builders\n", TestEnvironment.RunChecked("tar", ["--zstd", "-xOf", tar, "./etc/motd"]));
        Assert.NotEqual(manifest.DefinitionSha256, BuildManifest.Parse(File.ReadAllBytes(Path.Combine(out1, "deb.build.json"))).DefinitionSha256);

        // Same definition, same pinned source, another output folder: the same bytes.
        var out2 = Path.Combine(work, "out2");
        var second = TestEnvironment.RunCli(Build(out2, "--force"));
        Assert.True(second.ExitCode == 0, second.StdErr);
        Assert.Equal(Sha256Sum(tar), Sha256Sum(Path.Combine(out2, "deb.tar.zst")));
        Assert.Equal(Sha256Sum(Path.Combine(out1, "deb.fl")), Sha256Sum(Path.Combine(out2, "deb.fl")));
    }
}
