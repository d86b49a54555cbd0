using System.Security.Cryptography;
using RootfsForge.Definitions;
using RootfsForge.NativeTests.Hub;
using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Provenance;

/// <summary>
/// <c>rootfsforge check</c> against .fl files whose manifest records what a build of the definition records: the
/// definition hash printed by <c>build --print</c>, the source's SHA-256 from sha256sum(1) and the CLI's --version.
/// Then the recipe, the source and the signer change, and check reports each as drift; hub: reads through the stand-in.
/// </summary>
public class CheckTests(HubStandin hub) : IClassFixture<HubStandin>
{
    private static void RequireCli()
    {
        Skip.IfNot(File.Exists(TestEnvironment.CliDll), "the CLI is not built");
        TestEnvironment.RequireTool("sha256sum");
    }

    /// <summary>images/demo.yaml (vm from a local tar, one recipe) and the base tar beside images/.</summary>
    private static string MakeDefinition(string dir)
    {
        string images = Path.Combine(dir, "images");
        Directory.CreateDirectory(Path.Combine(images, "recipes"));
        File.WriteAllText(Path.Combine(dir, "base.tar"), "not really a tar, but a pinned source file\n");
        File.WriteAllText(Path.Combine(images, "demo.yaml"), """
            name: demo
            kind: vm
            from:
              path: ../base.tar
            include:
              - recipe: motd
            outputs: [tar]
            """);
        File.WriteAllText(Path.Combine(images, "recipes", "motd.yaml"), """
            files:
              - {path: /etc/motd, content: "hello\n"}
            """);
        return Path.Combine(images, "demo.yaml");
    }

    /// <summary>The manifest a build of <paramref name="yaml"/> records, from the CLI's own printouts and sha256sum.</summary>
    private static BuildManifest OracleManifest(string yaml, string baseTar)
    {
        var (code, stdout, stderr) = TestEnvironment.RunCli("build", "--print", yaml);
        Assert.True(code == 0, stderr);
        string first = stdout.Split('\n')[0];
        Assert.StartsWith("# definition sha256: ", first);
        string definitionSha = first["# definition sha256: ".Length..].Trim();
        string sourceSha = TestEnvironment.RunChecked("sha256sum", [baseTar]).Split(' ')[0];
        string version = TestEnvironment.RunCli("--version").StdOut.Trim();
        return new BuildManifest
        {
            Name = "demo", Kind = "vm", DefinitionSha256 = definitionSha,
            Source = new ManifestSource("path", "../base.tar", "sha256:" + sourceSha), RootfsForgeVersion = version,
        };
    }

    [SkippableFact]
    public async Task Match_Drift_Signature_Hub()
    {
        RequireCli();
        var dir = TestEnvironment.NewTempDir("rff-check");
        string yaml = MakeDefinition(dir), baseTar = Path.Combine(dir, "base.tar");
        var manifest = OracleManifest(yaml, baseTar);
        var (priv, pub) = ManifestSignature.NewKeyPair();
        var (_, otherPub) = ManifestSignature.NewKeyPair();
        string fl = SignedFlistTests.WriteFlist(dir, "demo.fl", tree => FlistManifest.ToTags(manifest, tree, priv));

        var (code, stdout, stderr) = TestEnvironment.RunCli("check", yaml, "--against", fl);
        Assert.True(code == 0, stdout + stderr);
        Assert.Contains("matches the definition", stdout);
        (code, stdout, stderr) = TestEnvironment.RunCli("check", yaml, "--against", fl, "--signed-by", pub);
        Assert.True(code == 0, stdout + stderr);
        (code, _, stderr) = TestEnvironment.RunCli("check", yaml, "--against", fl, "--signed-by", otherPub);
        Assert.Equal(1, code);
        Assert.Contains("another key", stderr);

        // Another tool version: drift, unless --any-version.
        string older = SignedFlistTests.WriteFlist(dir, "older.fl", tree => FlistManifest.ToTags(manifest with { RootfsForgeVersion = "0.0.1" }, tree, null));
        (code, stdout, _) = TestEnvironment.RunCli("check", yaml, "--against", older);
        Assert.Equal(1, code);
        Assert.Contains("drift: rootfsforgeVersion", stdout);
        Assert.Equal(0, TestEnvironment.RunCli("check", yaml, "--against", older, "--any-version").ExitCode);

        // Another commit of the same release is not drift: the check, like the inputs key, compares the release.
        var release = BuildManifest.ReleaseOf(manifest.RootfsForgeVersion);
        string otherCommit = SignedFlistTests.WriteFlist(dir, "other-commit.fl",
            tree => FlistManifest.ToTags(manifest with { RootfsForgeVersion = release + "+0123456789abcdef" }, tree, null));
        (code, stdout, stderr) = TestEnvironment.RunCli("check", yaml, "--against", otherCommit);
        Assert.True(code == 0, stdout + stderr);

        // The manifest's tags copied onto another flist: its tree is not the one the manifest was written for.
        string moved = SignedFlistTests.WriteFlist(dir, "moved.fl", SignedFlistTests.TagsOf(fl), content: "other\n");
        (code, stdout, stderr) = TestEnvironment.RunCli("check", yaml, "--against", moved);
        Assert.Equal(1, code);
        Assert.Contains("drift: tree", stdout);
        (code, _, stderr) = TestEnvironment.RunCli("check", yaml, "--against", moved, "--signed-by", pub);
        Assert.Equal(1, code);
        Assert.Contains("another tree", stderr);

        // A flist without a manifest (hand-made) is drift too.
        string bare = SignedFlistTests.WriteFlist(dir, "bare.fl", new Dictionary<string, string> { ["author"] = "someone" });
        (code, stdout, _) = TestEnvironment.RunCli("check", yaml, "--against", bare);
        Assert.Equal(1, code);
        Assert.Contains("no build manifest", stdout);

        // hub:USER/NAME.fl through the hub stand-in (published where it serves /USER/NAME.fl), and a missing one.
        hub.Require();
        await hub.ResetAsync();
        string published = hub.PublishedPath("demo.fl");
        Directory.CreateDirectory(Path.GetDirectoryName(published)!);
        File.Copy(fl, published, overwrite: true);
        (code, stdout, stderr) = TestEnvironment.RunCli("check", yaml, "--against", $"hub:{HubStandin.User}/demo.fl", "--hub", hub.Url.ToString(),
            "--signed-by", pub);
        Assert.True(code == 0, stdout + stderr);
        (code, _, stderr) = TestEnvironment.RunCli("check", yaml, "--against", $"hub:{HubStandin.User}/nothere.fl", "--hub", hub.Url.ToString());
        Assert.Equal(1, code);
        Assert.Contains("404", stderr);
        Assert.Equal(2, TestEnvironment.RunCli("check", yaml, "--against", "hub:nouser").ExitCode);

        // The recipe changes: the definition hash drifts. The source changes: its digest drifts.
        File.WriteAllText(Path.Combine(dir, "images", "recipes", "motd.yaml"), "files:\n  - {path: /etc/motd, content: \"hello, world\\n\"}\n");
        (code, stdout, _) = TestEnvironment.RunCli("check", yaml, "--against", fl);
        Assert.Equal(1, code);
        Assert.Contains("drift: definitionSha256", stdout);
        Assert.DoesNotContain("source.digest", stdout);
        File.AppendAllText(baseTar, "changed\n");
        (code, stdout, _) = TestEnvironment.RunCli("check", yaml, "--against", fl);
        Assert.Equal(1, code);
        Assert.Contains("drift: source.digest", stdout);
        Assert.Contains(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(baseTar))), stdout);
    }

    /// <summary>The up-to-date key uses the release, so a new commit of the tool rebuilds nothing; the manifest keeps the full version.</summary>
    [Fact]
    public void InputsKey_IgnoresTheCommit_ManifestKeepsTheFullVersion()
    {
        var a = SignedFlistTests.SampleManifest() with { RootfsForgeVersion = "0.2.0+d3b369f0000000000000000000000000000000000" };
        var b = a with { RootfsForgeVersion = "0.2.0+30d5d3d0000000000000000000000000000000000" };
        Assert.Equal(a.InputsKey, b.InputsKey);
        Assert.NotEqual(a.InputsKey, (a with { RootfsForgeVersion = "0.3.0+d3b369f0000000000000000000000000000000000" }).InputsKey);
        Assert.NotEqual(a.InputsKey, (a with { RootfsForgeVersion = "0.2.0-beta.1" }).InputsKey);
        Assert.Equal("0.2.0", BuildManifest.ReleaseOf(a.RootfsForgeVersion));
        Assert.Equal(a.RootfsForgeVersion, BuildManifest.Parse(a.ToJson()).RootfsForgeVersion);
        Assert.Empty(DefinitionCheck.Compare(a, b));
    }
}
