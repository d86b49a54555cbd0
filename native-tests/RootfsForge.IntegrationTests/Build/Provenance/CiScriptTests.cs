using System.Text.Json;
using RootfsForge.Definitions;
using RootfsForge.NativeTests.Hub;
using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Provenance;

/// <summary>
/// The scripts .github/workflows/flists.yml runs (tools/ci/*.sh), run here end to end: list-changed.sh on a git
/// repository changed commit by commit (expected sets written by hand), and build-one.sh building a vm definition from
/// the cached Debian image into a dir:// store and the hub stand-in, signed with a key from the environment.
/// </summary>
public class CiScriptTests(HubStandin hub) : IClassFixture<HubStandin>
{
    private static string Script(string name) => Path.Combine(TestEnvironment.RepoRoot, "tools", "ci", name);

    private static Dictionary<string, string> CliEnv() => new() { ["ROOTFSFORGE"] = $"dotnet {TestEnvironment.CliDll}" };

    private static void Git(string repo, params string[] args) =>
        TestEnvironment.RunChecked("git", ["-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.invalid", .. args]);

    private static string Head(string repo) => TestEnvironment.RunChecked("git", ["-C", repo, "rev-parse", "HEAD"]).Trim();

    private static string[] Matrix(string repo, string? since)
    {
        var (code, stdout, stderr) = TestEnvironment.Run("bash", since is null ? [Script("list-changed.sh")] : [Script("list-changed.sh"), since],
            workingDirectory: repo, environment: CliEnv());
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        return [.. doc.RootElement.GetProperty("include").EnumerateArray().Select(e => e.GetProperty("definition").GetString()!)];
    }

    [SkippableFact]
    public void ListChanged_FollowsIncludesFilesAndKernels()
    {
        Skip.IfNot(File.Exists(TestEnvironment.CliDll), "the CLI is not built");
        TestEnvironment.RequireTool("git");
        var repo = TestEnvironment.NewTempDir("rff-ci-repo");
        void Write(string rel, string text)
        {
            var p = Path.Combine(repo, rel);
            Directory.CreateDirectory(Path.GetDirectoryName(p)!);
            File.WriteAllText(p, text);
        }
        const string Oci = "from:\n  image: docker://localhost:5000/base@sha256:0000000000000000000000000000000000000000000000000000000000000001\n";
        Write("images/web.yaml", "name: web\nkind: container\n" + Oci + "include:\n  - recipe: outer\noutputs: [tar]\n");
        Write("images/db.yaml", "name: db\nkind: container\n" + Oci + "files:\n  - {path: /etc/db.conf, source: files/db.conf}\noutputs: [tar]\n");
        Write("images/vm.yaml", "name: vm\nkind: vm\nfrom:\n  path: ../base.tar\noutputs: [tar]\n");
        Write("images/recipes/outer.yaml", "include:\n  - recipe: inner\n");
        Write("images/recipes/inner.yaml", "files:\n  - {path: /etc/motd, content: hi}\n");
        Write("images/files/db.conf", "x=1\n");
        Write("kernels/custom.yaml", "family: custom\n");
        Write("base.tar", "base\n");
        Write("README", "x\n");
        Git(repo, "init", "-q");
        Git(repo, "add", "-A");
        Git(repo, "commit", "-qm", "one");
        string one = Head(repo);
        string[] all = ["images/db.yaml", "images/vm.yaml", "images/web.yaml"];
        Assert.Equal(all, Matrix(repo, null));
        Assert.Equal(all, Matrix(repo, new string('0', 40))); // a new branch's push
        Assert.Equal([], Matrix(repo, one));

        Write("images/recipes/inner.yaml", "files:\n  - {path: /etc/motd, content: hello}\n"); // a recipe of a recipe
        Git(repo, "commit", "-qam", "two");
        Assert.Equal(["images/web.yaml"], Matrix(repo, one));
        string two = Head(repo);
        Write("images/files/db.conf", "x=2\n");
        Write("README", "y\n");
        Git(repo, "commit", "-qam", "three");
        Assert.Equal(["images/db.yaml"], Matrix(repo, two));
        Assert.Equal(["images/db.yaml", "images/web.yaml"], Matrix(repo, one));
        string three = Head(repo);
        Write("kernels/custom.yaml", "family: custom2\n");
        Write("base.tar", "base2\n");
        Git(repo, "commit", "-qam", "four");
        Assert.Equal(["images/vm.yaml"], Matrix(repo, three));
        Write("images/web.yaml", "name: web\nkind: container\nnot_a_key: 1\n"); // broken: listed, so its build fails loudly
        Assert.Equal(["images/web.yaml"], Matrix(repo, Head(repo)));
        Assert.Equal(all, Matrix(repo, "no-such-commit"));
    }

    [SkippableFact]
    public async Task BuildOne_VmIntoDirStoreAndHub_SignedAndVerified()
    {
        Skip.IfNot(File.Exists(TestEnvironment.CliDll), "the CLI is not built");
        TestEnvironment.RequireRoot("a vm build runs commands in a chroot");
        const string Image = "/var/cache/rootfsforge/debian12-zstd.qcow2";
        Skip.IfNot(File.Exists(Image), $"needs the cached Debian 12 test image {Image} (tools/make-debian-image.sh)");
        hub.Require();
        await hub.ResetAsync();
        var dir = TestEnvironment.NewTempDir("rff-ci-build");
        string images = Path.Combine(dir, "images");
        Directory.CreateDirectory(images);
        string store = Path.Combine(dir, "store");
        File.WriteAllText(Path.Combine(images, "ci-demo.yaml"), $"""
            name: ci-demo
            kind: vm
            from:
              path: {Image}
            files:
              - {"{"}path: /etc/motd, content: "built by ci\n"{"}"}
            outputs:
              - fl: {"{"}stores: ["dir://{store}"]{"}"}
              - hub: {"{"}url: "{hub.Url}", name: ci-demo{"}"}
            """);
        var (priv, pub) = ManifestSignature.NewKeyPair();
        var env = CliEnv();
        env["PUSH"] = "1";
        env["SIGNING_PUBLIC_KEY"] = pub;
        env[ManifestSignature.KeyVariable] = priv;
        env["RFS_HUB_TOKEN"] = HubStandin.Token;
        string outDir = Path.Combine(dir, "out");
        var (code, stdout, stderr) = TestEnvironment.Run("bash", [Script("build-one.sh"), Path.Combine(images, "ci-demo.yaml"), outDir],
            workingDirectory: dir, environment: env, timeout: TimeSpan.FromMinutes(20));
        Assert.True(code == 0, stdout + stderr);
        Assert.DoesNotContain(priv, stdout + stderr);
        Assert.DoesNotContain(HubStandin.Token, stdout + stderr);
        Assert.EndsWith("ci-demo.build.json", stdout.Trim());
        var manifest = BuildManifest.Parse(File.ReadAllBytes(Path.Combine(outDir, "ci-demo.build.json")));
        Assert.Contains(manifest.Outputs, o => o.Kind == "hub");
        Assert.True(Directory.EnumerateFiles(store, "*", SearchOption.AllDirectories).Any(), "blocks were uploaded to the dir:// store");
        Assert.True(File.Exists(hub.PublishedPath("ci-demo.flist")), "the hub stand-in published the flist");
        // What a node operator runs: the published .fl checked against the definition and the CI key.
        (code, stdout, stderr) = TestEnvironment.RunCli("check", Path.Combine(images, "ci-demo.yaml"), "--against", Path.Combine(outDir, "ci-demo.fl"),
            "--signed-by", pub);
        Assert.True(code == 0, stdout + stderr);
    }
}
