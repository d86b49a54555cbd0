using System.Collections.Concurrent;
using System.Formats.Tar;
using System.Text.Json;
using RootfsForge.NativeTests.Support;
using RootfsForge.Sources.Oci;
using Xunit;

namespace RootfsForge.NativeTests.Oci;

/// <summary>
/// The images of every OCI and container-flist test, built once per test run with buildah (vfs storage, chroot
/// isolation) from the local busybox base and served by Debian's docker-registry on loopback (one registry for all, a
/// second for the zstd copy of the layered image, so containers/image cannot reuse its gzip blobs):
/// <list type="bullet">
/// <item><c>test/base:1</c> (the busybox base) and <c>test/app</c>: one layer on it (a config file, a directory,
/// ENTRYPOINT/CMD/ENV/WORKDIR/LABEL/EXPOSE/USER), pushed as <c>:gzip</c> and <c>:v2s2</c> (Docker schema 2), and with
/// layers of its own as <c>:zstd</c>; <c>test/multi:1</c>, an index of the app (linux/amd64) and an arm64/v8 image. The
/// app and the base are also written as an OCI layout (<see cref="Layout"/>) and the app as a docker archive
/// (<see cref="Archive"/>). Other registries (htpasswd, token, a fault proxy's upstream) serve the same storage
/// folder.</item>
/// <item><c>test/layered</c>: a Dockerfile built with <c>buildah bud --layers</c> on the base plus a layer with file
/// capabilities and a user xattr (set with the host's <c>setcap</c> and <c>setfattr</c> on the mounted working
/// container, so containers/storage writes them as PAX records): files deleted by a later RUN, a directory replaced
/// (<c>rm -rf d &amp;&amp; mkdir d</c>: buildah's vfs driver writes a whiteout per child), hard links made by a later RUN,
/// a symlinked directory written through by a later RUN, a FIFO, a setuid directory, numeric owners,
/// ENTRYPOINT/CMD/ENV/WORKDIR/LABEL. Pushed as <c>:gzip</c> (OCI), <c>:v2s2</c> and, to the second registry,
/// <c>:zstd</c>; also written as an OCI layout and a docker archive. <c>test/ctr-multi:1</c>: an index of it
/// (linux/amd64) and an arm64/v8 image.</item>
/// <item><c>test/handmade:1</c> and the OCI layout <see cref="HandmadeLayout"/>: layers written member by member
/// (<see cref="OciLayoutWriter"/>) for what buildah never writes: a true <c>.wh..wh..opq</c>, a hard link to a file
/// of a lower layer, members through a lower symlink (relative, absolute and pointing above the root), <c>../</c> and
/// absolute names, a character device, nanosecond mtimes, xattrs, a long name; gzip, zstd and uncompressed layers.</item>
/// </list>
/// <see cref="Oracle"/> unpacks any of the registry's images with <c>skopeo copy … oci:</c> + <c>umoci unpack</c>. Tests
/// that need more images build them with <see cref="Buildah"/>; tests that damage blobs push images of their own
/// (<see cref="PushUnique"/>).
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class OciImagesFixture : IDisposable
{
    public const string AppImage = "localhost/rootfsforge-test/app:1";
    public const string AppZstdImage = "localhost/rootfsforge-test/app-zstd:1";
    public const string ArmImage = "localhost/rootfsforge-test/arm:1";
    public const string AppConf = "app config\n";
    public const string CapsImage = "localhost/rootfsforge-test/caps:1";
    public const string LayeredImage = "localhost/rootfsforge-test/layered:1";
    public const string LayeredArmImage = "localhost/rootfsforge-test/layered-arm:1";

    /// <summary>The Dockerfile of <c>test/layered</c> (one layer per RUN).</summary>
    public const string Dockerfile = $"""
        FROM {CapsImage}
        RUN mkdir -p /data/keep /data/gone /opt/real /repl/sub && echo keep > /data/keep/k && echo gone > /data/gone/g \
            && echo lower > /data/lower.txt && echo lower-file > /opt/real/lower && ln -s real /opt/link \
            && echo shared > /data/shared && echo old > /repl/old && echo old2 > /repl/sub/x \
            && chown 1000:2000 /data/keep/k && chmod 4750 /data/keep && mkfifo /data/fifo && ln -s /data/shared /data/abs-link
        RUN rm -rf /data/gone /data/lower.txt && echo new > /data/new.txt
        RUN rm -rf /repl && mkdir /repl && echo fresh > /repl/fresh
        RUN ln /data/shared /data/shared-link && ln /data/shared /etc/shared-too
        RUN echo added-through-link > /opt/link/upper && mkdir -p /opt/link/newdir && echo deep > /opt/link/newdir/f
        ENV A=1 B="x y" PATH=/usr/bin:/bin QUOTE="say \"hi\""
        WORKDIR /data
        LABEL org.example.k=v org.example.other="two words"
        ENTRYPOINT ["/bin/sh", "-c"]
        CMD ["echo hi"]
        """;

    private readonly Buildah? _buildah;
    private readonly RegistryServer? _registry;
    private readonly RegistryServer? _zstdRegistry;
    private readonly ConcurrentDictionary<string, Lazy<string>> _oracles = new();

    public OciImagesFixture()
    {
        SkipReason = Buildah.Unavailable();
        foreach (var tool in new[] { "setcap", "setfattr", "python3" })
            if (SkipReason is null && TestEnvironment.FindOnPath(tool) is null)
                SkipReason = $"needs '{tool}' on PATH (tools/setup.sh installs libcap2-bin, attr, python3)";
        if (SkipReason is not null) return;
        Dir = TestEnvironment.NewTempDir("rff-oci");
        Storage = Path.Combine(Dir, "registry-storage");
        Directory.CreateDirectory(Storage);
        try
        {
            _buildah = new Buildah();
            _registry = RegistryServer.StartAnonymous(Storage);
            _zstdRegistry = RegistryServer.StartAnonymous(Path.Combine(Dir, "registry-storage-zstd"));
            var b = _buildah;
            b.Base();
            BuildApps();
            BuildLayered();
            WriteHandmade(HandmadeLayout = Path.Combine(Dir, "handmade"));
            // --preserve-digests: the uncompressed layer stays uncompressed (docker destinations otherwise gzip it).
            b.Skopeo("copy", "--preserve-digests", "--dest-tls-verify=false", $"oci:{HandmadeLayout}:1", $"docker://{Host}/test/handmade:1");
        }
        catch (Exception e)
        {
            Failure = e;
        }
    }

    /// <summary>The app images: <c>test/base</c>, <c>test/app</c> in three forms, <c>test/multi</c>, the layout and archive.</summary>
    private void BuildApps()
    {
        var b = Buildah;
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
        PushIndex("localhost/rootfsforge-test/multi:1", AppImage, ArmImage, "test/multi:1");
        Layout = Path.Combine(Dir, "layout");
        b.Skopeo("copy", b.Storage(AppImage), $"oci:{Layout}:app");
        b.Skopeo("copy", b.Storage(Buildah.BaseImage), $"oci:{Layout}:base");
        Archive = Path.Combine(Dir, "app.tar");
        b.Skopeo("copy", b.Storage(AppImage), $"docker-archive:{Archive}:test/app:1");
    }

    private void BuildApp(string name, string from) => Buildah.Build(name, (c, root) =>
    {
        File.WriteAllText(Path.Combine(root, "etc", "app.conf"), AppConf);
        Directory.CreateDirectory(Path.Combine(root, "srv"));
        Buildah.Run("config", "--entrypoint", "[\"/bin/sh\", \"-c\"]", "--cmd", "[\"echo hello\"]", "--env", "GREETING=hello world",
            "--workingdir", "/srv", "--label", "org.example.role=test-app", "--port", "8080/tcp", "--user", "1000:1000", c);
    }, from);

    /// <summary>The layered image: <c>test/layered</c> in three forms, <c>test/ctr-multi</c>, its layout and archive.</summary>
    private void BuildLayered()
    {
        var b = Buildah;
        b.Build(CapsImage, (_, root) =>
        {
            string ping = Path.Combine(root, "bin", "ping2");
            File.Copy("/bin/busybox", ping);
            File.SetUnixFileMode(ping, (UnixFileMode)0b111_101_101);
            TestEnvironment.RunChecked("setcap", ["cap_net_raw+ep", ping]);
            File.WriteAllText(Path.Combine(root, "etc", "xfile"), "x\n");
            TestEnvironment.RunChecked("setfattr", ["-n", "user.test", "-v", "hello", Path.Combine(root, "etc", "xfile")]);
        });
        string context = Path.Combine(Dir, "context");
        Directory.CreateDirectory(context);
        File.WriteAllText(Path.Combine(context, "Dockerfile"), Dockerfile);
        b.BuildDockerfile(context, LayeredImage);
        b.Build(LayeredArmImage, (c, root) =>
        {
            File.WriteAllText(Path.Combine(root, "etc", "arch"), "arm64\n");
            b.Run("config", "--arch", "arm64", "--variant", "v8", "--cmd", "/bin/true", c);
        });
        b.Push(LayeredImage, Host, "test/layered:gzip");
        b.Push(LayeredImage, Host, "test/layered:v2s2", format: "v2s2");
        b.Push(LayeredImage, ZstdHost, "test/layered:zstd", compression: "zstd");
        PushIndex("localhost/rootfsforge-test/ctr-multi:1", LayeredImage, LayeredArmImage, "test/ctr-multi:1");
        LayeredLayout = b.ToOciLayout(LayeredImage, Path.Combine(Dir, "layered-layout"), "layered");
        LayeredArchive = Path.Combine(Dir, "layered.tar");
        b.Skopeo("copy", b.Storage(LayeredImage), $"docker-archive:{LayeredArchive}:test/layered:1");
    }

    /// <summary>A <c>buildah manifest</c> index of an amd64 and an arm64/v8 image, pushed as <paramref name="repoTag"/>.</summary>
    private void PushIndex(string list, string amd64, string arm64, string repoTag)
    {
        var b = Buildah;
        b.Run("manifest", "create", list);
        b.Run("manifest", "add", "--arch", "amd64", list, amd64);
        b.Run("manifest", "add", "--arch", "arm64", "--variant", "v8", list, arm64);
        b.Run("manifest", "push", "--all", "--tls-verify=false", "--format", "oci", list, $"docker://{Host}/{repoTag}");
    }

    public string? SkipReason { get; }

    public Exception? Failure { get; }

    public string Dir { get; } = "";

    /// <summary>The storage folder of <see cref="Host"/>, which every other test registry may serve too.</summary>
    public string Storage { get; } = "";

    /// <summary>The registry of everything but the zstd layered image (<c>127.0.0.1:PORT</c>).</summary>
    public string Host => _registry!.Host;

    public string RegistryOrigin => _registry!.Origin;

    /// <summary>The registry holding <c>test/layered:zstd</c>.</summary>
    public string ZstdHost => _zstdRegistry!.Host;

    /// <summary>An OCI layout holding <c>app</c> and <c>base</c>.</summary>
    public string Layout { get; private set; } = "";

    /// <summary>A docker archive of the app image, tagged <c>test/app:1</c>.</summary>
    public string Archive { get; private set; } = "";

    /// <summary>An OCI layout of the layered image (skopeo from buildah's storage), named <c>layered</c>.</summary>
    public string LayeredLayout { get; private set; } = "";

    /// <summary>A docker archive of the layered image (skopeo), tagged <c>test/layered:1</c>.</summary>
    public string LayeredArchive { get; private set; } = "";

    /// <summary>The OCI layout of the hand-made image, named <c>1</c>.</summary>
    public string HandmadeLayout { get; private set; } = "";

    internal Buildah Buildah => _buildah!;

    /// <summary>Skips when the tools are missing; fails when the images could not be built.</summary>
    public void Require()
    {
        Skip.If(SkipReason is not null, SkipReason);
        if (Failure is not null) throw new InvalidOperationException("building the test images failed", Failure);
    }

    /// <summary>A fresh, empty blob cache folder.</summary>
    public string NewCache() => Path.Combine(Dir, "caches", Guid.NewGuid().ToString("N"), "blobs");

    /// <summary>A new empty folder under the fixture's.</summary>
    public string NewDir(string prefix)
    {
        string d = Path.Combine(Dir, "work", $"{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(d);
        return d;
    }

    /// <summary>Options for a plain-HTTP loopback registry with its own cache.</summary>
    public static OciImageOptions Options(string cache, params string[] insecure) =>
        new() { CacheDirectory = cache, InsecureRegistries = insecure };

    /// <summary>The registry part of a reference for one of the images (the zstd layered one lives on its own registry).</summary>
    public string HostOf(string repoTag) => repoTag == "test/layered:zstd" ? ZstdHost : Host;

    public string Ref(string repoTag) => $"docker://{HostOf(repoTag)}/{repoTag}";

    /// <summary>Skips unless umoci (the layer-merge oracle) is installed.</summary>
    public static void RequireUmoci() =>
        Skip.If(TestEnvironment.FindOnPath("umoci") is null, "needs 'umoci' on PATH (apt-get install umoci), the unpack oracle");

    /// <summary>
    /// The root filesystem umoci makes of <paramref name="repoTag"/>: <c>skopeo copy docker://… oci:DIR:img</c> (the
    /// platform picked with <c>--override-arch/--override-variant</c>), then <c>umoci unpack --image DIR:img BUNDLE</c> as
    /// root (owners, modes, devices and xattrs as the layers say). Made once per image and platform.
    /// </summary>
    public string Oracle(string repoTag, string? arch = null, string? variant = null)
    {
        RequireUmoci();
        TestEnvironment.RequireRoot("umoci unpacks owners, devices and xattrs as root only");
        return _oracles.GetOrAdd($"{repoTag}|{arch}|{variant}", _ => new Lazy<string>(() =>
        {
            string dir = NewDir("oracle");
            // umoci 0.4.7 cannot read zstd layers: skopeo recompresses every layer to gzip for it (the same tar inside,
            // as the config's diff_ids check).
            var args = new List<string> { "copy", "--src-tls-verify=false", "--dest-compress", "--dest-compress-format", "gzip" };
            if (arch is not null) args.AddRange(["--override-arch", arch]);
            if (variant is not null) args.AddRange(["--override-variant", variant]);
            args.AddRange([Ref(repoTag), $"oci:{dir}/layout:img"]);
            Buildah.Skopeo([.. args]);
            TestEnvironment.RunChecked("umoci", ["unpack", "--image", $"{dir}/layout:img", $"{dir}/bundle"]);
            return Path.Combine(dir, "bundle", "rootfs");
        })).Value;
    }

    /// <summary>The root filesystem umoci makes of the hand-made OCI layout (no registry involved; recompressed as above).</summary>
    public string HandmadeOracle() => _oracles.GetOrAdd("handmade-layout", _ => new Lazy<string>(() =>
    {
        RequireUmoci();
        string dir = NewDir("oracle");
        Buildah.Skopeo("copy", "--dest-compress", "--dest-compress-format", "gzip", $"oci:{HandmadeLayout}:1", $"oci:{dir}/layout:img");
        TestEnvironment.RunChecked("umoci", ["unpack", "--image", $"{dir}/layout:img", $"{dir}/bundle"]);
        return Path.Combine(dir, "bundle", "rootfs");
    })).Value;

    /// <summary>The image config as <c>skopeo inspect --config</c> prints it (the OCI config JSON).</summary>
    public JsonElement Config(string repoTag)
    {
        string json = Buildah.Skopeo("inspect", "--config", "--tls-verify=false", Ref(repoTag));
        return JsonDocument.Parse(json).RootElement.Clone();
    }

    /// <summary>Where the registry keeps a blob's bytes (for tampering).</summary>
    public string RegistryBlobPath(string digest)
    {
        string hex = digest["sha256:".Length..];
        return Path.Combine(Storage, "docker", "registry", "v2", "blobs", "sha256", hex[..2], hex, "data");
    }

    /// <summary>
    /// Builds an image with one layer of its own (random content) on the busybox base and pushes it as
    /// <c>test/NAME-RANDOM:1</c>, a repository no other test uses, for tests that damage its blobs in the registry
    /// storage; returns the repo:tag.
    /// </summary>
    public string PushUnique(string name)
    {
        string repo = $"{name}-{Guid.NewGuid():N}"[..(name.Length + 9)];
        string image = $"localhost/rootfsforge-test/unique-{repo}:1";
        Buildah.Build(image, (_, root) => File.WriteAllText(Path.Combine(root, "etc", "unique"), Guid.NewGuid().ToString() + new string('u', 20000)));
        Buildah.Push(image, Host, $"test/{repo}:1");
        return $"test/{repo}:1";
    }

    /// <summary>The manifest of an image as the registry serves it (skopeo inspect --raw).</summary>
    public JsonElement RawManifest(string repoTag) =>
        JsonDocument.Parse(Buildah.Skopeo("inspect", "--raw", "--tls-verify=false", Ref(repoTag))).RootElement.Clone();

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

    /// <summary>
    /// The hand-made image: three layers (gzip, zstd, uncompressed) of members that a runtime must merge with care.
    /// Where each lands is asserted in the tests from the image spec, and umoci is the oracle for all of it.
    /// </summary>
    private static void WriteHandmade(string dir)
    {
        var w = new OciLayoutWriter(dir);
        w.AddLayer(LayerTar.Members(
            new("dir", "./"),
            new("dir", "etc"), new("file", "etc/keep", "keep\n"), new("file", "etc/gone", "gone\n"),
            new("dir", "opq", Mode: "750", Uid: 7, Gid: 8), new("file", "opq/old", "old\n"), new("dir", "opq/sub"), new("file", "opq/sub/old2", "old2\n"),
            new("dir", "real"), new("file", "real/lower", "lower\n"),
            new("sym", "link", Target: "real"), new("sym", "abs", Target: "/real"), new("sym", "up", Target: "../../.."),
            new("file", "shared", "shared by three names\n", Uid: 1234, Gid: 5678),
            new("dir", "dev"), new("chr", "dev/zero", Mode: "666", Device: "1:5"), new("fifo", "dev/pipe"),
            new("file", "ping", "not really ping\n", Mode: "4755",
                Xattrs: new() { ["security.capability"] = "0100000200200000000000000000000000000000", ["user.note"] = "6869" }),
            new("file", "nanos", "nanoseconds\n", Mtime: "1700000000.123456789"),
            new("file", new string('n', 120) + "/" + new string('m', 120), "a long name\n")), "gzip");
        w.AddLayer(LayerTar.Members(
            new("dir", "opq", Mode: "750", Uid: 7, Gid: 8), new("file", "opq/.wh..wh..opq"), new("file", "opq/new", "new\n"),
            new("file", "etc/.wh.gone"),
            new("link", "hl", Target: "shared"),
            new("file", "link/upper", "through the relative symlink\n"),
            new("file", "abs/upper2", "through the absolute symlink\n"),
            new("file", "up/outside", "through a symlink above the root\n"),
            new("file", "../../escape", "dot-dot name\n"),
            new("file", "/absolute/file", "absolute name\n")), "zstd");
        w.AddLayer(LayerTar.Members(
            new("link", "hl2", Target: "hl"),
            new("sym", "real/lower", Target: "upper")), "none");
        w.Finish("1");
    }

    public void Dispose()
    {
        _registry?.Dispose();
        _zstdRegistry?.Dispose();
        _buildah?.Dispose();
        if (Dir.Length > 0) TestEnvironment.Run("rm", ["-rf", "--one-file-system", Dir]);
    }
}

[CollectionDefinition(Name)]
public sealed class OciImagesCollection : ICollectionFixture<OciImagesFixture>
{
    public const string Name = "oci images (buildah + docker-registry + umoci)";
}
