using System.Formats.Tar;
using RootfsForge.NativeTests.Support;
using RootfsForge.Sources.Oci;
using Xunit;

namespace RootfsForge.NativeTests.Oci;

/// <summary>
/// Images built once per test run with buildah from the local busybox base and published every way the OCI sources
/// read them: pushed to an anonymous <c>docker-registry</c> (gzip and zstd OCI manifests, a Docker schema 2 manifest, a
/// two-platform index), written as an OCI layout and as a docker archive. Other registries (htpasswd, token, a fault
/// proxy's upstream) serve the same storage folder. Tests that need more images build them with <see cref="Buildah"/>.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class OciImagesFixture : IDisposable
{
    public const string AppImage = "localhost/rootfsforge-test/app:1";
    public const string AppZstdImage = "localhost/rootfsforge-test/app-zstd:1";
    public const string ArmImage = "localhost/rootfsforge-test/arm:1";
    public const string AppConf = "app config\n";

    private readonly Buildah? _buildah;
    private readonly RegistryServer? _registry;

    public OciImagesFixture()
    {
        SkipReason = Buildah.Unavailable();
        if (SkipReason is not null) return;
        Dir = TestEnvironment.NewTempDir("rff-oci");
        Storage = Path.Combine(Dir, "registry-storage");
        Directory.CreateDirectory(Storage);
        try
        {
            _buildah = new Buildah();
            _registry = RegistryServer.StartAnonymous(Storage);
            var b = _buildah;
            b.Base();
            BuildApp(AppImage, Buildah.BaseImage);
            // containers/image reuses a layer already in the registry in another compression, so the zstd image
            // gets layers of its own.
            BuildApp(AppZstdImage, b.BusyboxImage("localhost/rootfsforge-test/busybox-zstd:1", "zstd"));
            b.Build(ArmImage, (c, root) =>
            {
                File.WriteAllText(Path.Combine(root, "etc", "arch"), "arm64\n");
                b.Run("config", "--arch", "arm64", "--variant", "v8", c);
            });
            b.Push(Buildah.BaseImage, Host, "test/base:1");
            b.Push(AppImage, Host, "test/app:gzip");
            b.Push(AppZstdImage, Host, "test/app:zstd", compression: "zstd");
            b.Push(AppImage, Host, "test/app:v2s2", format: "v2s2");
            b.Run("manifest", "create", "localhost/rootfsforge-test/multi:1");
            b.Run("manifest", "add", "--arch", "amd64", "localhost/rootfsforge-test/multi:1", AppImage);
            b.Run("manifest", "add", "--arch", "arm64", "--variant", "v8", "localhost/rootfsforge-test/multi:1", ArmImage);
            b.Run("manifest", "push", "--all", "--tls-verify=false", "--format", "oci", "localhost/rootfsforge-test/multi:1",
                $"docker://{Host}/test/multi:1");
            Layout = Path.Combine(Dir, "layout");
            b.Skopeo("copy", b.Storage(AppImage), $"oci:{Layout}:app");
            b.Skopeo("copy", b.Storage(Buildah.BaseImage), $"oci:{Layout}:base");
            Archive = Path.Combine(Dir, "app.tar");
            b.Skopeo("copy", b.Storage(AppImage), $"docker-archive:{Archive}:test/app:1");
        }
        catch (Exception e)
        {
            Failure = e;
        }
    }

    private void BuildApp(string name, string from) => Buildah.Build(name, (c, root) =>
    {
        File.WriteAllText(Path.Combine(root, "etc", "app.conf"), AppConf);
        Directory.CreateDirectory(Path.Combine(root, "srv"));
        Buildah.Run("config", "--entrypoint", "[\"/bin/sh\", \"-c\"]", "--cmd", "[\"echo hello\"]", "--env", "GREETING=hello world",
            "--workingdir", "/srv", "--label", "org.example.role=test-app", "--port", "8080/tcp", "--user", "1000:1000", c);
    }, from);

    public string? SkipReason { get; }

    public Exception? Failure { get; }

    public string Dir { get; } = "";

    /// <summary>The registry storage folder every test registry serves.</summary>
    public string Storage { get; } = "";

    /// <summary>The anonymous registry's <c>127.0.0.1:PORT</c>.</summary>
    public string Host => _registry!.Host;

    public string RegistryOrigin => _registry!.Origin;

    /// <summary>An OCI layout holding <c>app</c> and <c>base</c>.</summary>
    public string Layout { get; } = "";

    /// <summary>A docker archive of the app image, tagged <c>test/app:1</c>.</summary>
    public string Archive { get; } = "";

    internal Buildah Buildah => _buildah!;

    /// <summary>Skips when the tools are missing; fails when the images could not be built.</summary>
    public void Require()
    {
        Skip.If(SkipReason is not null, SkipReason);
        if (Failure is not null) throw new InvalidOperationException("building the test images failed", Failure);
    }

    /// <summary>A fresh, empty blob cache folder.</summary>
    public string NewCache() => Path.Combine(Dir, "caches", Guid.NewGuid().ToString("N"), "blobs");

    /// <summary>Options for a plain-HTTP loopback registry with its own cache.</summary>
    public static OciImageOptions Options(string cache, params string[] insecure) =>
        new() { CacheDirectory = cache, InsecureRegistries = insecure };

    /// <summary>Where the registry keeps a blob's bytes (for tampering).</summary>
    public string RegistryBlobPath(string digest)
    {
        string hex = digest["sha256:".Length..];
        return Path.Combine(Storage, "docker", "registry", "v2", "blobs", "sha256", hex[..2], hex, "data");
    }

    /// <summary>Builds an image with one layer of its own (random content) on the base and pushes it as <c>test/NAME:1</c>.</summary>
    internal void PushUnique(string name, string? host = null)
    {
        string image = $"localhost/rootfsforge-test/{name}:1";
        Buildah.Build(image, (_, root) => File.WriteAllText(Path.Combine(root, "etc", "unique"), Guid.NewGuid().ToString() + new string('x', 5000)));
        Buildah.Push(image, host ?? Host, $"test/{name}:1");
    }

    /// <summary>The regular files of a layer tar (names without ./) with their content.</summary>
    public static Dictionary<string, byte[]> ReadTar(Stream tar)
    {
        var files = new Dictionary<string, byte[]>();
        using var reader = new TarReader(tar);
        while (reader.GetNextEntry() is { } e)
        {
            string name = e.Name.StartsWith("./", StringComparison.Ordinal) ? e.Name[2..] : e.Name;
            if (e.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile)
            {
                using var ms = new MemoryStream();
                e.DataStream?.CopyTo(ms);
                files[name] = ms.ToArray();
            }
            else
            {
                files[name] = [];
            }
        }
        return files;
    }

    public void Dispose()
    {
        _registry?.Dispose();
        _buildah?.Dispose();
        if (Dir.Length > 0) TestEnvironment.Run("rm", ["-rf", "--one-file-system", Dir]);
    }
}

[CollectionDefinition(Name)]
public sealed class OciImagesCollection : ICollectionFixture<OciImagesFixture>
{
    public const string Name = "oci images (buildah + docker-registry)";
}
