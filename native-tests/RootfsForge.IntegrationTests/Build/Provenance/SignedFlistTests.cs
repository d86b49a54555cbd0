using System.Text;
using RootfsForge.Definitions;
using RootfsForge.NativeTests.Flist;
using RootfsForge.NativeTests.Support;
using RootfsForge.Sinks.Flist;
using RootfsForge.Stores;
using RootfsForge.Tree;
using Xunit;

namespace RootfsForge.NativeTests.Provenance;

/// <summary>
/// <c>key generate</c> and <c>fl verify --signed-by</c> on real .fl files written by the FlistSink. The oracle for the
/// signature is OpenSSL reading the tags with Python's sqlite3 (independent of our reader and of NSec).
/// </summary>
public class SignedFlistTests
{
    private static readonly byte[] SpkiPrefix = Convert.FromHexString("302a300506032b6570032100");

    internal static BuildManifest SampleManifest(string name = "demo") => new()
    {
        Name = name, Kind = "container", DefinitionSha256 = new string('a', 64),
        Source = new ManifestSource("oci", "docker://localhost/base@sha256:" + new string('b', 64), "sha256:" + new string('b', 64)),
        RootfsForgeVersion = "0.0.0-test", Packages = [new ManifestPackage("busybox", "1.36", "amd64")],
    };

    /// <summary>A small .fl written by the sink, blocks in a dir:// store, with <paramref name="tags"/>.</summary>
    internal static string WriteFlist(string dir, string name, IReadOnlyDictionary<string, string> tags, string content = "hello\n")
    {
        string fl = Path.Combine(dir, name);
        var store = BlockStore.Open($"dir://{Path.Combine(dir, "store")}");
        var sink = new FlistSink(fl, new FlistSinkOptions { Stores = [new BlockStoreRoute(0, 255, store)], Tags = tags });
        try
        {
            sink.Add(TreeFixtures.Dir(""));
            sink.Add(TreeFixtures.Dir("etc"));
            sink.Add(TreeFixtures.File("etc/motd", Encoding.UTF8.GetBytes(content)));
            sink.Complete();
        }
        finally
        {
            sink.Dispose();
        }
        return fl;
    }

    private static void RequireCli() => Skip.IfNot(File.Exists(TestEnvironment.CliDll), "the CLI is not built");

    [SkippableFact]
    public void KeyGenerate_WritesPrivateKey0600_NeverPrintsIt_AndRefusesToReplace()
    {
        RequireCli();
        var dir = TestEnvironment.NewTempDir("rff-key");
        string key = Path.Combine(dir, "ci.key");
        var (code, stdout, stderr) = TestEnvironment.RunCli("key", "generate", "-o", key);
        Assert.True(code == 0, stderr);
        string priv = File.ReadAllText(key).Trim();
        string pub = File.ReadAllText(key + ".pub").Trim();
        Assert.Equal(32, Convert.FromBase64String(priv).Length);
        Assert.Equal(pub, stdout.Trim());
        Assert.DoesNotContain(priv, stdout + stderr);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(key));
        // The pair belongs together: what the private key signs, the public key verifies.
        var (sig, signer) = ManifestSignature.Sign("x"u8, priv);
        Assert.Equal(pub, signer);
        Assert.True(ManifestSignature.Verify("x"u8, sig, pub));

        (code, _, stderr) = TestEnvironment.RunCli("key", "generate", "-o", key);
        Assert.Equal(2, code);
        Assert.Contains("exists", stderr);
        Assert.Equal(priv, File.ReadAllText(key).Trim());
    }

    [SkippableFact]
    public void FlVerifySignedBy_ValidUnsignedOtherKeyTamperedMissingBlocks()
    {
        RequireCli();
        var dir = TestEnvironment.NewTempDir("rff-signed");
        var (priv, pub) = ManifestSignature.NewKeyPair();
        var (_, otherPub) = ManifestSignature.NewKeyPair();
        string pubFile = Path.Combine(dir, "ci.key.pub");
        File.WriteAllText(pubFile, pub + "\n");
        var tags = FlistManifest.ToTags(SampleManifest(), priv);
        string signed = WriteFlist(dir, "signed.fl", tags);

        var (code, _, err) = TestEnvironment.RunCli("fl", "verify", signed, "--signed-by", pubFile);
        Assert.True(code == 0, err);
        Assert.Contains("signed by", err);
        (code, _, err) = TestEnvironment.RunCli("fl", "verify", signed, "--signed-by", pub);
        Assert.True(code == 0, err);
        (code, _, err) = TestEnvironment.RunCli("fl", "verify", signed, "--signed-by", otherPub);
        Assert.Equal(1, code);
        Assert.Contains("another key", err);

        string unsigned = WriteFlist(dir, "unsigned.fl", FlistManifest.ToTags(SampleManifest(), null));
        (code, _, err) = TestEnvironment.RunCli("fl", "verify", unsigned, "--signed-by", pubFile);
        Assert.Equal(1, code);
        Assert.Contains("not signed", err);
        (code, _, err) = TestEnvironment.RunCli("fl", "verify", unsigned);
        Assert.True(code == 0, err); // without --signed-by only the blocks count

        string bare = WriteFlist(dir, "bare.fl", new Dictionary<string, string> { ["author"] = "someone" });
        (code, _, err) = TestEnvironment.RunCli("fl", "verify", bare, "--signed-by", pubFile);
        Assert.Equal(1, code);
        Assert.Contains("no build manifest", err);

        // A hand-edited manifest (another package version) keeping the CI's signature and key.
        var forged = new Dictionary<string, string>(tags)
        {
            [ManifestSignature.ManifestTag] = tags[ManifestSignature.ManifestTag].Replace("1.36", "1.37", StringComparison.Ordinal),
        };
        string tampered = WriteFlist(dir, "tampered.fl", forged);
        (code, _, err) = TestEnvironment.RunCli("fl", "verify", tampered, "--signed-by", pubFile);
        Assert.Equal(1, code);
        Assert.Contains("does not verify", err);

        (code, _, err) = TestEnvironment.RunCli("fl", "verify", signed, "--signed-by", "not-a-key");
        Assert.Equal(2, code);

        // Missing blocks win over a good signature: the content cannot be served.
        foreach (var f in Directory.GetFiles(Path.Combine(dir, "store"), "*", SearchOption.AllDirectories)) File.Delete(f);
        (code, _, err) = TestEnvironment.RunCli("fl", "verify", signed, "--signed-by", pubFile);
        Assert.Equal(3, code);
    }

    [SkippableFact]
    public void OpenSsl_VerifiesTheSignatureStoredInTheFlTags()
    {
        TestEnvironment.RequireTool("openssl");
        TestEnvironment.RequireTool("python3");
        var dir = TestEnvironment.NewTempDir("rff-signed-ossl");
        var (priv, pub) = ManifestSignature.NewKeyPair();
        string fl = WriteFlist(dir, "signed.fl", FlistManifest.ToTags(SampleManifest(), priv));
        // Python's sqlite3 reads the tag table (docs/flist-format.md: tag(key, value)) and writes the signed bytes.
        string py = """
            import sqlite3, sys, base64
            rows = dict(sqlite3.connect(sys.argv[1]).execute("select key, value from tag"))
            open(sys.argv[2] + "/m.json", "wb").write(rows["manifest"].encode())
            open(sys.argv[2] + "/m.sig", "wb").write(base64.b64decode(rows["manifest.sig"]))
            print(rows["manifest.key"])
            """;
        File.WriteAllText(Path.Combine(dir, "read.py"), py.Replace("\n    ", "\n"));
        string signer = TestEnvironment.RunChecked("python3", [Path.Combine(dir, "read.py"), fl, dir]).Trim();
        Assert.Equal(pub, signer);
        File.WriteAllText(Path.Combine(dir, "pub.pem"),
            $"-----BEGIN PUBLIC KEY-----\n{Convert.ToBase64String([.. SpkiPrefix, .. Convert.FromBase64String(pub)])}\n-----END PUBLIC KEY-----\n");
        var ok = TestEnvironment.Run("openssl", ["pkeyutl", "-verify", "-pubin", "-inkey", Path.Combine(dir, "pub.pem"), "-rawin",
            "-in", Path.Combine(dir, "m.json"), "-sigfile", Path.Combine(dir, "m.sig")]);
        Assert.True(ok.ExitCode == 0, ok.StdErr + ok.StdOut);
        Assert.Equal("demo", BuildManifest.Parse(File.ReadAllBytes(Path.Combine(dir, "m.json"))).Name);
        var reading = FlistManifest.Read(RootfsForge.Sources.Flist.FlistSource.Open(fl).GetInfo().Tags, pub);
        Assert.Equal(ManifestSignatureStatus.Valid, reading.Signature);
    }
}
