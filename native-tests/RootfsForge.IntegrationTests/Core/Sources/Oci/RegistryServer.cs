using RootfsForge.NativeTests.Flist;
using RootfsForge.NativeTests.Support;

namespace RootfsForge.NativeTests.Oci;

/// <summary>
/// Debian's <c>docker-registry</c> (the CNCF distribution registry 2.8) serving a storage folder on a free 127.0.0.1
/// port, anonymous, with htpasswd Basic auth or with token auth. Several servers may share one storage folder (the
/// filesystem driver keeps no state in memory without a cache), so images pushed once can be read in every mode.
/// </summary>
internal sealed class RegistryServer : IDisposable
{
    private readonly ServerProcess _process;

    private RegistryServer(ServerProcess process, string configDir)
    {
        _process = process;
        ConfigDir = configDir;
    }

    public string ConfigDir { get; }

    public int Port => _process.Port;

    /// <summary><c>127.0.0.1:PORT</c>, the registry part of a reference.</summary>
    public string Host => $"127.0.0.1:{Port}";

    public string Origin => $"{(Tls ? "https" : "http")}://{Host}";

    public bool Tls { get; private init; }

    public static RegistryServer StartAnonymous(string storage) => Start(storage, _ => "");

    /// <summary>Basic auth against an htpasswd file made with <c>htpasswd -B</c> (bcrypt, what the registry requires).</summary>
    public static RegistryServer StartHtpasswd(string storage, string user, string password) => Start(storage, dir =>
    {
        TestEnvironment.RequireTool("htpasswd");
        string file = Path.Combine(dir, "htpasswd");
        File.WriteAllText(file, TestEnvironment.RunChecked("htpasswd", ["-Bbn", user, password]));
        return $"auth:\n  htpasswd:\n    realm: rootfsforge-test\n    path: {file}\n";
    });

    /// <summary>Token auth: the registry trusts tokens signed by <paramref name="issuer"/>'s certificate.</summary>
    public static RegistryServer StartToken(string storage, TokenIssuer issuer) => Start(storage, dir =>
    {
        string bundle = Path.Combine(dir, "token-ca.pem");
        File.WriteAllText(bundle, issuer.CertificatePem);
        return "auth:\n  token:\n"
            + $"    realm: {issuer.Realm}\n    service: {TokenIssuer.Service}\n    issuer: {TokenIssuer.Issuer}\n    rootcertbundle: {bundle}\n";
    });

    /// <summary>
    /// Anonymous over HTTPS with a self-signed certificate for 127.0.0.1 (what <c>InsecureRegistries</c> is for).
    /// </summary>
    public static RegistryServer StartTls(string storage) => Start(storage, _ => "", tls: true);

    private static RegistryServer Start(string storage, Func<string, string> auth, bool tls = false)
    {
        TestEnvironment.RequireTool("docker-registry");
        string dir = TestEnvironment.NewTempDir("rff-registry");
        string authYaml = auth(dir);
        string tlsYaml = "";
        if (tls)
        {
            using var key = System.Security.Cryptography.RSA.Create(2048);
            var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=127.0.0.1", key,
                System.Security.Cryptography.HashAlgorithmName.SHA256, System.Security.Cryptography.RSASignaturePadding.Pkcs1);
            var san = new System.Security.Cryptography.X509Certificates.SubjectAlternativeNameBuilder();
            san.AddIpAddress(System.Net.IPAddress.Loopback);
            request.CertificateExtensions.Add(san.Build());
            using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(1));
            File.WriteAllText(Path.Combine(dir, "tls.crt"), cert.ExportCertificatePem() + "\n");
            File.WriteAllText(Path.Combine(dir, "tls.key"), key.ExportPkcs8PrivateKeyPem() + "\n");
            tlsYaml = $"  tls:\n    certificate: {Path.Combine(dir, "tls.crt")}\n    key: {Path.Combine(dir, "tls.key")}\n";
        }
        string config = Path.Combine(dir, "config.yml");
        // The registry's log goes to CONFIGDIR/registry.log (kept when ROOTFSFORGE_KEEP_REGISTRY_LOGS=1).
        var process = ServerProcess.Start("sh", port =>
        {
            File.WriteAllText(config, $"""
                version: 0.1
                log:
                  level: {(Environment.GetEnvironmentVariable("ROOTFSFORGE_KEEP_REGISTRY_LOGS") == "1" ? "debug" : "warn")}
                  accesslog:
                    disabled: true
                storage:
                  filesystem:
                    rootdirectory: {storage}
                  delete:
                    enabled: true
                  maintenance:
                    uploadpurging:
                      enabled: false
                http:
                  addr: 127.0.0.1:{port}
                  secret: rootfsforge-test-secret
                {tlsYaml}{authYaml}
                """);
            return ["-c", "exec docker-registry serve \"$0\" 2>>\"$1\"", config, Path.Combine(dir, "registry.log")];
        }, dir);
        return new RegistryServer(process, dir) { Tls = tls };
    }

    public void Dispose()
    {
        _process.Dispose();
        if (Environment.GetEnvironmentVariable("ROOTFSFORGE_KEEP_REGISTRY_LOGS") == "1") return;
        try
        {
            Directory.Delete(ConfigDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
