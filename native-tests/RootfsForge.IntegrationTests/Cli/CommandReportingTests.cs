using System.Text.Json;
using RootfsForge.Definitions;
using RootfsForge.NativeTests.Oci;
using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Cli;

/// <summary>
/// The reporting rules of CiOutputTests (issue 12 §3) on the commands added after them — build, check, dockerfile,
/// key generate, fl diff, container: each --json document parsed and checked against what is on disk (the files written,
/// their SHA-256 from sha256sum, the key files), check's answer against a manifest put into a .fl with fl pack, and a
/// successful -q run that writes nothing on standard error. Inputs are real and local: a tree made with mke2fs -d, an OCI
/// layout written by hand, the cached Debian image for build.
/// </summary>
public class CommandReportingTests
{
    private const string DebianQcow2 = "/var/cache/rootfsforge/debian12-zstd.qcow2";

    private static JsonElement Parse(string stdout, string schema)
    {
        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement.Clone();
        Assert.Equal(schema, root.GetProperty("schema").GetString());
        return root;
    }

    private static string Sha256Sum(string file) => TestEnvironment.RunChecked("sha256sum", [file]).Split(' ')[0];

    /// <summary>A small tree (etc/os-release, etc/hostname, a 200 KiB file) as an ext4 image made by mke2fs -d.</summary>
    private static string MakeExt4(string dir, string name, string hostname)
    {
        TestEnvironment.RequireTool("mke2fs");
        var tree = Path.Combine(dir, name + "-tree");
        Directory.CreateDirectory(Path.Combine(tree, "etc"));
        File.WriteAllText(Path.Combine(tree, "etc", "os-release"), "ID=sample\n");
        File.WriteAllText(Path.Combine(tree, "etc", "hostname"), hostname + "\n");
        var data = new byte[200 * 1024];
        new Random(5).NextBytes(data);
        File.WriteAllBytes(Path.Combine(tree, "etc", "blob"), data);
        var image = Path.Combine(dir, name + ".img");
        TestEnvironment.RunChecked("mke2fs", ["-q", "-t", "ext4", "-d", tree, image, "8M"]);
        return image;
    }

    [Fact]
    public void Key_generate_json_names_both_files_and_carries_only_the_public_key()
    {
        var dir = TestEnvironment.NewTempDir("rff-keyjson");
        try
        {
            string key = Path.Combine(dir, "signing.key");
            var (code, stdout, stderr) = TestEnvironment.RunCli("key", "generate", "-o", key, "--json");
            Assert.True(code == 0, stderr);
            var root = Parse(stdout, "rootfsforge.key-generate/v1");
            Assert.Equal(key, root.GetProperty("privateKeyFile").GetString());
            Assert.Equal(key + ".pub", root.GetProperty("publicKeyFile").GetString());
            Assert.Equal(File.ReadAllText(key + ".pub").Trim(), root.GetProperty("publicKey").GetString());
            Assert.DoesNotContain(File.ReadAllText(key).Trim(), stdout + stderr);
            Assert.Equal(["privateKeyFile", "publicKey", "publicKeyFile", "schema"],
                root.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));

            // -q: the public key on standard output, nothing on standard error.
            (code, stdout, stderr) = TestEnvironment.RunCli("key", "generate", "-o", Path.Combine(dir, "quiet.key"), "-q");
            Assert.True(code == 0, stderr);
            Assert.Equal("", stderr);
            Assert.Equal(File.ReadAllText(Path.Combine(dir, "quiet.key.pub")).Trim(), stdout.Trim());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Dockerfile_json_lists_every_file_written()
    {
        var dir = TestEnvironment.NewTempDir("rff-dfjson");
        try
        {
            var images = Path.Combine(dir, "images");
            Directory.CreateDirectory(Path.Combine(images, "files"));
            File.WriteAllText(Path.Combine(images, "files", "tool"), "#!/bin/sh\necho tool\n");
            File.WriteAllText(Path.Combine(images, "web.yaml"), """
                name: web
                kind: container
                from:
                  image: docker://localhost/rootfsforge-test/busybox@sha256:0000000000000000000000000000000000000000000000000000000000000001
                files:
                  - {path: /etc/motd, content: "hello\n"}
                  - {path: /usr/local/bin/tool, source: files/tool, mode: "0755"}
                entrypoint: [/usr/local/bin/tool]
                outputs: [tar]
                """);
            string context = Path.Combine(dir, "context");
            var (code, stdout, stderr) = TestEnvironment.RunCli("dockerfile", Path.Combine(images, "web.yaml"), "-o", context, "--json");
            Assert.True(code == 0, stderr);
            var root = Parse(stdout, "rootfsforge.dockerfile/v1");
            Assert.Equal("web", root.GetProperty("name").GetString());
            Assert.Equal(context, root.GetProperty("directory").GetString());
            Assert.Equal(Path.Combine(context, "Dockerfile"), root.GetProperty("dockerfile").GetString());
            var onDisk = Directory.EnumerateFiles(context, "*", SearchOption.AllDirectories)
                .Select(f => Path.GetRelativePath(context, f)).Order(StringComparer.Ordinal).ToList();
            Assert.Equal(onDisk, root.GetProperty("files").EnumerateArray().Select(f => f.GetString()!));
            Assert.Contains("Dockerfile", onDisk);
            Assert.Contains("files/etc/motd", onDisk);
            Assert.Contains("files/usr/local/bin/tool", onDisk);

            (code, stdout, stderr) = TestEnvironment.RunCli("dockerfile", Path.Combine(images, "web.yaml"), "-o", Path.Combine(dir, "quiet"), "-q");
            Assert.True(code == 0, stderr);
            Assert.Equal("", stderr);
            Assert.Equal("", stdout);
            Assert.True(File.Exists(Path.Combine(dir, "quiet", "Dockerfile")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [SkippableFact]
    public void Fl_diff_json_and_quiet_come_from_the_shared_options()
    {
        var dir = TestEnvironment.NewTempDir("rff-diffjson");
        try
        {
            string a = MakeExt4(dir, "a", "alpha");
            string b = Path.Combine(dir, "b");
            Directory.CreateDirectory(Path.Combine(b, "etc"));
            File.WriteAllText(Path.Combine(b, "etc", "os-release"), "ID=sample\n");
            File.WriteAllText(Path.Combine(b, "etc", "hostname"), "beta\n");
            File.WriteAllText(Path.Combine(b, "etc", "added"), "new\n");
            File.Copy(Path.Combine(dir, "a-tree", "etc", "blob"), Path.Combine(b, "etc", "blob"));

            var (code, stdout, stderr) = TestEnvironment.RunCli("fl", "diff", a, b, "--json");
            Assert.True(code == 1, stderr);
            var root = Parse(stdout, "rootfsforge.diff/v1");
            Assert.False(root.GetProperty("same").GetBoolean());
            var entries = root.GetProperty("entries").EnumerateArray()
                .ToDictionary(e => e.GetProperty("path").GetString()!, e => e.GetProperty("change").GetString());
            Assert.Equal("added", entries["etc/added"]);
            Assert.Equal("changed", entries["etc/hostname"]);
            Assert.Equal(1, root.GetProperty("added").GetInt32());
            Assert.Equal(JsonValueKind.Null, root.GetProperty("blocks").ValueKind);
            Assert.Equal(JsonValueKind.Array, root.GetProperty("warnings").ValueKind);

            // The same tree twice, quietly: exit 0, the summary line on standard output, nothing on standard error.
            (code, stdout, stderr) = TestEnvironment.RunCli("fl", "diff", a, a, "-q");
            Assert.True(code == 0, stderr + stdout);
            Assert.Equal("", stderr);
            Assert.Equal("0 added, 0 removed, 0 changed\n", stdout);
            Assert.Equal(2, TestEnvironment.RunCli("fl", "diff", a, b, "-q", "-v").ExitCode);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [SkippableFact]
    public async Task Check_json_says_match_or_drift_with_the_differences()
    {
        var dir = TestEnvironment.NewTempDir("rff-checkjson");
        try
        {
            string image = MakeExt4(dir, "src", "alpha");
            string definition = Path.Combine(dir, "images", "small.yaml");
            Directory.CreateDirectory(Path.GetDirectoryName(definition)!);
            File.WriteAllText(definition, $"name: small\nkind: vm\nfrom: {{path: '{image}'}}\noutputs: [tar.zst]\n");
            // The manifest a build of this definition records (the library's own expectation, tool version left to
            // --any-version), put into a .fl's tags as a build would.
            var expected = await DefinitionCheck.ExpectedAsync(DefinitionLoader.Load(definition), "0.0.0-test", null);
            // Only the manifest tag is packed (no tree digest tag: an unsigned manifest without one is not checked against a tree).
            string manifest = FlistManifest.ToTags(expected, treeDigest: "", privateKey: null)[ManifestSignature.ManifestTag];
            string store = "dir://" + Path.Combine(dir, "store");
            string fl = Path.Combine(dir, "small.fl"), bare = Path.Combine(dir, "bare.fl");
            var pack = TestEnvironment.RunCli("fl", "pack", Path.Combine(dir, "src-tree"), "-o", fl, "-s", store, "-m", $"{ManifestSignature.ManifestTag}={manifest}", "-q");
            Assert.True(pack.ExitCode == 0, pack.StdErr);
            pack = TestEnvironment.RunCli("fl", "pack", Path.Combine(dir, "src-tree"), "-o", bare, "-s", store, "-q");
            Assert.True(pack.ExitCode == 0, pack.StdErr);

            var (code, stdout, stderr) = TestEnvironment.RunCli("check", definition, "--against", fl, "--any-version", "--json");
            Assert.True(code == 0, stderr + stdout);
            var root = Parse(stdout, "rootfsforge.check/v1");
            Assert.True(root.GetProperty("match").GetBoolean());
            Assert.Equal("small", root.GetProperty("name").GetString());
            Assert.Equal(expected.DefinitionSha256, root.GetProperty("definitionSha256").GetString());
            Assert.Equal(0, root.GetProperty("drift").GetArrayLength());
            Assert.Contains("matches the definition", stderr); // the human line moved to standard error

            (code, stdout, stderr) = TestEnvironment.RunCli("check", definition, "--against", fl, "--any-version", "-q");
            Assert.True(code == 0, stderr);
            Assert.Equal("", stderr);
            Assert.Contains("matches the definition", stdout);

            // Without --any-version the test version differs: drift, exit 1, and still one document.
            (code, stdout, stderr) = TestEnvironment.RunCli("check", definition, "--against", fl, "--json", "-q");
            Assert.True(code == 1, stderr + stdout);
            root = Parse(stdout, "rootfsforge.check/v1");
            Assert.False(root.GetProperty("match").GetBoolean());
            var drift = root.GetProperty("drift").EnumerateArray().Single();
            Assert.Equal("rootfsforgeVersion", drift.GetProperty("field").GetString());
            Assert.Equal("0.0.0-test", drift.GetProperty("published").GetString());

            // A changed definition drifts in its hash.
            File.AppendAllText(definition, "metadata: {version: \"2\"}\n");
            (code, stdout, stderr) = TestEnvironment.RunCli("check", definition, "--against", fl, "--any-version", "--json");
            Assert.True(code == 1, stderr + stdout);
            root = Parse(stdout, "rootfsforge.check/v1");
            drift = root.GetProperty("drift").EnumerateArray().Single();
            Assert.Equal("definitionSha256", drift.GetProperty("field").GetString());
            Assert.Equal(expected.DefinitionSha256, drift.GetProperty("published").GetString());

            // A flist without a manifest: drift with the reason.
            (code, stdout, stderr) = TestEnvironment.RunCli("check", definition, "--against", bare, "--json");
            Assert.True(code == 1, stderr + stdout);
            root = Parse(stdout, "rootfsforge.check/v1");
            Assert.False(root.GetProperty("match").GetBoolean());
            Assert.Contains("no build manifest", root.GetProperty("problem").GetString());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [SkippableFact]
    public void Container_quiet_still_runs_the_lint_and_json_carries_its_findings()
    {
        var dir = TestEnvironment.NewTempDir("rff-ctrjson");
        try
        {
            // No /bin/sh although the config's Cmd names it: the container check of the entrypoint fails.
            var w = new OciLayoutWriter(Path.Combine(dir, "layout"));
            w.AddLayer(OciLayoutWriter.FilesTar(("etc/hostname", "box\n"), ("etc/os-release", "ID=sample\n")));
            w.Finish("t");
            string reference = $"oci:{Path.Combine(dir, "layout")}:t";

            string loud = Path.Combine(dir, "loud.tar");
            var (code, stdout, stderr) = TestEnvironment.RunCli("container", reference, "-o", loud, "--json");
            Assert.True(code == 0, stderr);
            var root = Parse(stdout, "rootfsforge.container/v1");
            var lint = root.GetProperty("lint");
            Assert.Equal(JsonValueKind.Object, lint.ValueKind);
            var failed = lint.GetProperty("findings").EnumerateArray().Where(f => !f.GetProperty("passed").GetBoolean()).ToList();
            Assert.NotEmpty(failed);
            Assert.Contains("lint (container)", stderr);
            Assert.Equal(Sha256Sum(loud), root.GetProperty("output").GetProperty("sha256").GetString());

            // -q: nothing on standard error, the same checks run (the same findings and lint warnings in the document).
            string quiet = Path.Combine(dir, "quiet.tar");
            (code, stdout, stderr) = TestEnvironment.RunCli("container", reference, "-o", quiet, "--json", "-q");
            Assert.True(code == 0, stderr);
            Assert.Equal("", stderr);
            var quietRoot = Parse(stdout, "rootfsforge.container/v1");
            Assert.Equal(lint.GetProperty("findings").ToString(), quietRoot.GetProperty("lint").GetProperty("findings").ToString());
            Assert.Contains(quietRoot.GetProperty("warnings").EnumerateArray(), w => w.GetString()!.StartsWith("lint ", StringComparison.Ordinal));

            (code, stdout, stderr) = TestEnvironment.RunCli("container", reference, "-o", Path.Combine(dir, "nolint.tar"), "--json", "--no-lint", "-q");
            Assert.True(code == 0, stderr);
            Assert.Equal(JsonValueKind.Null, Parse(stdout, "rootfsforge.container/v1").GetProperty("lint").ValueKind);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>
    /// A definition of the cached Debian image (kept kernel, no steps): --json says built with the manifest and every output's
    /// digest, then up-to-date; the up-to-date run with -q writes nothing on standard error.
    /// </summary>
    [SkippableFact]
    public void Build_json_reports_built_then_up_to_date()
    {
        TestEnvironment.RequireRoot("the vm pipeline runs in a chroot");
        Skip.IfNot(File.Exists(DebianQcow2), $"{DebianQcow2} (tools/make-debian-image.sh) is not there");
        var dir = TestEnvironment.NewTempDir("rff-buildjson");
        try
        {
            string definition = Path.Combine(dir, "images", "deb.yaml");
            Directory.CreateDirectory(Path.GetDirectoryName(definition)!);
            File.WriteAllText(definition, $"name: deb\nkind: vm\nfrom: {{path: '{DebianQcow2}'}}\noutputs: [tar.zst]\n");
            string output = Path.Combine(dir, "out");
            Assert.Equal(2, TestEnvironment.RunCli("build", definition, "--print", "--json").ExitCode);

            var (code, stdout, stderr) = TestEnvironment.RunCli("build", definition, "-O", output, "--json");
            Assert.True(code == 0, stderr);
            var root = Parse(stdout, "rootfsforge.build-result/v1");
            Assert.Equal("built", root.GetProperty("status").GetString());
            Assert.Equal("deb", root.GetProperty("name").GetString());
            Assert.Equal(Path.Combine(output, "deb.build.json"), root.GetProperty("manifest").GetString());
            var manifest = BuildManifest.Parse(File.ReadAllBytes(Path.Combine(output, "deb.build.json")));
            Assert.Equal(manifest.DefinitionSha256, root.GetProperty("definitionSha256").GetString());
            Assert.Equal(manifest.Source.Digest, root.GetProperty("source").GetProperty("digest").GetString());
            var tar = root.GetProperty("outputs").EnumerateArray().Single();
            Assert.Equal("tar.zst", tar.GetProperty("kind").GetString());
            Assert.Equal(Path.Combine(output, "deb.tar.zst"), tar.GetProperty("path").GetString());
            Assert.Equal(Sha256Sum(Path.Combine(output, "deb.tar.zst")), tar.GetProperty("sha256").GetString());
            Assert.Equal(new FileInfo(Path.Combine(output, "deb.tar.zst")).Length, tar.GetProperty("bytes").GetInt64());
            Assert.Contains("==> ", stderr); // the step lines stay on standard error

            (code, stdout, stderr) = TestEnvironment.RunCli("build", definition, "-O", output, "--json", "-q");
            Assert.True(code == 0, stderr);
            Assert.Equal("", stderr);
            root = Parse(stdout, "rootfsforge.build-result/v1");
            Assert.Equal("up-to-date", root.GetProperty("status").GetString());
            Assert.Equal(tar.GetProperty("sha256").GetString(), root.GetProperty("outputs")[0].GetProperty("sha256").GetString());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
