using System.Text;
using RootfsForge.Definitions;
using RootfsForge.Flist;
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
    internal static string WriteFlist(string dir, string name, IReadOnlyDictionary<string, string> tags, string content = "hello\n") =>
        WriteFlist(dir, name, _ => tags, content);

    /// <summary>A small .fl with the tags <paramref name="tagsForTree"/> makes from its tree digest (as a build signs).</summary>
    internal static string WriteFlist(string dir, string name, Func<string, IReadOnlyDictionary<string, string>> tagsForTree, string content = "hello\n")
    {
        string fl = Path.Combine(dir, name);
        var store = BlockStore.Open($"dir://{Path.Combine(dir, "store")}");
        var sink = new FlistSink(fl, new FlistSinkOptions { Stores = [new BlockStoreRoute(0, 255, store)], TagsForTree = tagsForTree });
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
        string signed = WriteFlist(dir, "signed.fl", tree => FlistManifest.ToTags(SampleManifest(), tree, priv));
        var tags = TagsOf(signed);
        Assert.Equal(FlistTreeDigest.Of(signed), tags[ManifestSignature.TreeTag]);

        var (code, _, err) = TestEnvironment.RunCli("fl", "verify", signed, "--signed-by", pubFile);
        Assert.True(code == 0, err);
        Assert.Contains("signed by", err);
        (code, _, err) = TestEnvironment.RunCli("fl", "verify", signed, "--signed-by", pub);
        Assert.True(code == 0, err);
        (code, _, err) = TestEnvironment.RunCli("fl", "verify", signed, "--signed-by", otherPub);
        Assert.Equal(1, code);
        Assert.Contains("another key", err);

        string unsigned = WriteFlist(dir, "unsigned.fl", tree => FlistManifest.ToTags(SampleManifest(), tree, null));
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

        // The signed tags copied whole onto another flist (other content): the signature covers the tree, so it fails there.
        string moved = WriteFlist(dir, "moved.fl", tags, content: "hello, forged\n");
        Assert.NotEqual(tags[ManifestSignature.TreeTag], FlistTreeDigest.Of(moved));
        (code, _, err) = TestEnvironment.RunCli("fl", "verify", moved, "--signed-by", pubFile);
        Assert.Equal(1, code);
        Assert.Contains("signed for another tree", err);
        // ... and with the tree tag rewritten to the new flist's digest, the signature itself no longer holds.
        var retagged = new Dictionary<string, string>(tags) { [ManifestSignature.TreeTag] = FlistTreeDigest.Of(moved) };
        string moved2 = WriteFlist(dir, "moved2.fl", retagged, content: "hello, forged\n");
        (code, _, err) = TestEnvironment.RunCli("fl", "verify", moved2, "--signed-by", pubFile);
        Assert.Equal(1, code);
        Assert.Contains("does not verify", err);

        (code, _, err) = TestEnvironment.RunCli("fl", "verify", signed, "--signed-by", "not-a-key");
        Assert.Equal(2, code);

        // Missing blocks win over a good signature: the content cannot be served.
        foreach (var f in Directory.GetFiles(Path.Combine(dir, "store"), "*", SearchOption.AllDirectories)) File.Delete(f);
        (code, _, err) = TestEnvironment.RunCli("fl", "verify", signed, "--signed-by", pubFile);
        Assert.Equal(3, code);
    }

    internal static Dictionary<string, string> TagsOf(string fl)
    {
        var source = RootfsForge.Sources.Flist.FlistSource.Open(fl);
        try
        {
            return source.GetInfo().Tags.ToDictionary(t => t.Key, t => t.Value, StringComparer.Ordinal);
        }
        finally
        {
            source.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    [SkippableFact]
    public void OpenSsl_VerifiesTheSignatureStoredInTheFlTags()
    {
        TestEnvironment.RequireTool("openssl");
        TestEnvironment.RequireTool("python3");
        var dir = TestEnvironment.NewTempDir("rff-signed-ossl");
        var (priv, pub) = ManifestSignature.NewKeyPair();
        string fl = WriteFlist(dir, "signed.fl", tree => FlistManifest.ToTags(SampleManifest(), tree, priv));
        // Python's sqlite3 reads the tables (docs/flist-format.md: inode, extra, block, tag), computes the tree digest as
        // §8 defines it, and writes the signed message: header, tree digest, manifest tag.
        string py = """
            import sqlite3, sys, base64, hashlib
            db = sqlite3.connect(sys.argv[1])
            rows = dict(db.execute("select key, value from tag"))
            inodes = {r[0]: r[1:] for r in db.execute("select ino, parent, cast(name as blob), size, uid, gid, mode, rdev from inode")}
            extra = {r[0]: r[1] for r in db.execute("select ino, cast(data as blob) from extra")}
            blocks = {}
            for ino, bid, key in db.execute("select ino, id, key from block order by ino, rowid"):
                blocks.setdefault(ino, []).append(bid.hex() + ":" + key.hex())
            def path(ino):
                if ino == 1: return b"/"
                parent, name = inodes[ino][0], inodes[ino][1]
                p = path(parent)
                return (b"" if p == b"/" else p) + b"/" + name
            h = hashlib.sha256(b"rootfsforge-tree/v1\n")
            for p, ino in sorted((path(i), i) for i in inodes):
                _, _, size, uid, gid, mode, rdev = inodes[ino]
                h.update(p + f"\0{mode:o}\0{uid}:{gid}\0{size}\0{rdev}\0".encode() + extra.get(ino, b"") + b"\0"
                         + ",".join(blocks.get(ino, [])).encode() + b"\n")
            tree = "sha256:" + h.hexdigest()
            open(sys.argv[2] + "/m.json", "wb").write(b"rootfsforge-manifest/v2\n" + tree.encode() + b"\n" + rows["manifest"].encode())
            open(sys.argv[2] + "/m.sig", "wb").write(base64.b64decode(rows["manifest.sig"]))
            print(rows["manifest.key"], tree, rows["manifest.tree"])
            """;
        File.WriteAllText(Path.Combine(dir, "read.py"), py);
        var printed = TestEnvironment.RunChecked("python3", [Path.Combine(dir, "read.py"), fl, dir]).Trim().Split(' ');
        string signer = printed[0];
        Assert.Equal(printed[1], printed[2]);
        Assert.Equal(printed[1], FlistTreeDigest.Of(fl));
        Assert.Equal(pub, signer);
        File.WriteAllText(Path.Combine(dir, "pub.pem"),
            $"-----BEGIN PUBLIC KEY-----\n{Convert.ToBase64String([.. SpkiPrefix, .. Convert.FromBase64String(pub)])}\n-----END PUBLIC KEY-----\n");
        var ok = TestEnvironment.Run("openssl", ["pkeyutl", "-verify", "-pubin", "-inkey", Path.Combine(dir, "pub.pem"), "-rawin",
            "-in", Path.Combine(dir, "m.json"), "-sigfile", Path.Combine(dir, "m.sig")]);
        Assert.True(ok.ExitCode == 0, ok.StdErr + ok.StdOut);
        var message = File.ReadAllBytes(Path.Combine(dir, "m.json"));
        Assert.Equal("demo", BuildManifest.Parse(message.AsSpan(message.AsSpan().IndexOf((byte)'{'))).Name);
        var reading = FlistManifest.Read(TagsOf(fl), pub, FlistTreeDigest.Of(fl));
        Assert.Equal(ManifestSignatureStatus.Valid, reading.Signature);
    }
}
