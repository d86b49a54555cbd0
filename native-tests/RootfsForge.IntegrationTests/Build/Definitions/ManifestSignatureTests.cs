using System.Text;
using RootfsForge.Definitions;
using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Definitions;

/// <summary>Manifest signatures are plain Ed25519 (RFC 8032): OpenSSL, an independent implementation, verifies ours and we verify its.</summary>
public class ManifestSignatureTests
{
    private static readonly byte[] Pkcs8Prefix = Convert.FromHexString("302e020100300506032b657004220420");
    private static readonly byte[] SpkiPrefix = Convert.FromHexString("302a300506032b6570032100");

    private static string Pem(string label, byte[] der) =>
        $"-----BEGIN {label}-----\n{Convert.ToBase64String(der)}\n-----END {label}-----\n";

    [SkippableFact]
    public void OpenSslVerifiesOurSignature_AndWeVerifyOpenSsls()
    {
        TestEnvironment.RequireTool("openssl");
        var dir = TestEnvironment.NewTempDir("rff-sig");
        var manifest = Encoding.UTF8.GetBytes("{\"schema\":\"rootfsforge.build/v1\",\"name\":\"x\"}");
        File.WriteAllBytes(Path.Combine(dir, "m.json"), manifest);
        var (privateKey, publicKey) = ManifestSignature.NewKeyPair();
        File.WriteAllText(Path.Combine(dir, "priv.pem"), Pem("PRIVATE KEY", [.. Pkcs8Prefix, .. Convert.FromBase64String(privateKey)]));
        File.WriteAllText(Path.Combine(dir, "pub.pem"), Pem("PUBLIC KEY", [.. SpkiPrefix, .. Convert.FromBase64String(publicKey)]));

        var (signature, signer) = ManifestSignature.Sign(manifest, privateKey);
        Assert.Equal(publicKey, signer);
        File.WriteAllBytes(Path.Combine(dir, "ours.sig"), Convert.FromBase64String(signature));
        var ok = TestEnvironment.Run("openssl", ["pkeyutl", "-verify", "-pubin", "-inkey", Path.Combine(dir, "pub.pem"), "-rawin",
            "-in", Path.Combine(dir, "m.json"), "-sigfile", Path.Combine(dir, "ours.sig")]);
        Assert.True(ok.ExitCode == 0, ok.StdErr + ok.StdOut);

        TestEnvironment.RunChecked("openssl", ["pkeyutl", "-sign", "-inkey", Path.Combine(dir, "priv.pem"), "-rawin",
            "-in", Path.Combine(dir, "m.json"), "-out", Path.Combine(dir, "theirs.sig")]);
        var theirs = Convert.ToBase64String(File.ReadAllBytes(Path.Combine(dir, "theirs.sig")));
        Assert.True(ManifestSignature.Verify(manifest, theirs, publicKey));
        Assert.Equal(signature, theirs); // Ed25519 is deterministic

        manifest[^2] ^= 1;
        Assert.False(ManifestSignature.Verify(manifest, signature, publicKey));
        Assert.False(ManifestSignature.Verify(manifest, "not base64!", publicKey));
        Assert.Throws<ArgumentException>(() => ManifestSignature.Sign(manifest, Convert.ToBase64String(new byte[31])));
    }
}
