using System.Collections.Concurrent;
using System.Text.Json;
using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Oci;

/// <summary>
/// Images for the container-flist tests, built once per run and served by Debian's docker-registry on loopback:
/// <list type="bullet">
/// <item><c>test/layered</c>: a Dockerfile built with <c>buildah bud --layers</c> (vfs, chroot isolation) on the
/// local busybox base plus a layer with file capabilities and a user xattr (set with the host's <c>setcap</c> and
/// <c>setfattr</c> on the mounted working container, so containers/storage writes them as PAX records): files deleted
/// by a later RUN, a directory replaced (<c>rm -rf d &amp;&amp; mkdir d</c>: buildah's vfs driver writes a whiteout per
/// child), hard links made by a later RUN, a symlinked directory written through by a later RUN, a FIFO, a setuid
/// directory, numeric owners, ENTRYPOINT/CMD/ENV/WORKDIR/LABEL. Pushed as <c>:gzip</c> (OCI), <c>:v2s2</c> (Docker schema
/// 2) and, to a second registry so containers/image cannot reuse the gzip blobs, <c>:zstd</c>.</item>
/// <item><c>test/multi:1</c>: a <c>buildah manifest</c> index of the layered image (linux/amd64) and an arm64/v8 image.</item>
/// <item><c>test/handmade:1</c> and the OCI layout <see cref="HandmadeLayout"/>: layers written member by member
/// (<see cref="OciLayoutWriter"/>) for what buildah never writes: a true <c>.wh..wh..opq</c>, a hard link to a file
/// of a lower layer, members through a lower symlink (relative, absolute and pointing above the root), <c>../</c> and
/// absolute names, a character device, nanosecond mtimes, xattrs, a long name; gzip, zstd and uncompressed layers.</item>
/// </list>
/// The layered image is also written as an OCI layout and a docker archive (skopeo). <see cref="Oracle"/> unpacks any
/// of the registry's images with <c>skopeo copy … oci:</c> + <c>umoci unpack</c>.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ContainerImagesFixture : IDisposable
{
    public const string CapsImage = "localhost/rootfsforge-test/caps:1";
    public const string LayeredImage = "localhost/rootfsforge-test/layered:1";
    public const string ArmImage = "localhost/rootfsforge-test/layered-arm:1";

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

    public ContainerImagesFixture()
    {
        SkipReason = Buildah.Unavailable();
        foreach (var tool in new[] { "setcap", "setfattr", "python3" })
            if (SkipReason is null && TestEnvironment.FindOnPath(tool) is null)
                SkipReason = $"needs '{tool}' on PATH (tools/setup.sh installs libcap2-bin, attr, python3)";
        if (SkipReason is not null) return;
        Dir = TestEnvironment.NewTempDir("rff-ctr");
        try
        {
            _buildah = new Buildah();
            _registry = RegistryServer.StartAnonymous(Path.Combine(Dir, "storage"));
            _zstdRegistry = RegistryServer.StartAnonymous(Path.Combine(Dir, "storage-zstd"));
            var b = _buildah;
            b.Base();
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
            b.Build(ArmImage, (c, root) =>
            {
                File.WriteAllText(Path.Combine(root, "etc", "arch"), "arm64\n");
                b.Run("config", "--arch", "arm64", "--variant", "v8", "--cmd", "/bin/true", c);
            });
            b.Push(LayeredImage, Host, "test/layered:gzip");
            b.Push(LayeredImage, Host, "test/layered:v2s2", format: "v2s2");
            b.Push(LayeredImage, ZstdHost, "test/layered:zstd", compression: "zstd");
            b.Run("manifest", "create", "localhost/rootfsforge-test/ctr-multi:1");
            b.Run("manifest", "add", "--arch", "amd64", "localhost/rootfsforge-test/ctr-multi:1", LayeredImage);
            b.Run("manifest", "add", "--arch", "arm64", "--variant", "v8", "localhost/rootfsforge-test/ctr-multi:1", ArmImage);
            b.Run("manifest", "push", "--all", "--tls-verify=false", "--format", "oci", "localhost/rootfsforge-test/ctr-multi:1",
                $"docker://{Host}/test/multi:1");
            LayeredLayout = b.ToOciLayout(LayeredImage, Path.Combine(Dir, "layered-layout"), "layered");
            LayeredArchive = Path.Combine(Dir, "layered.tar");
            b.Skopeo("copy", b.Storage(LayeredImage), $"docker-archive:{LayeredArchive}:test/layered:1");
            HandmadeLayout = Path.Combine(Dir, "handmade");
            WriteHandmade(HandmadeLayout);
            // --preserve-digests: the uncompressed layer stays uncompressed (docker destinations otherwise gzip it).
            b.Skopeo("copy", "--preserve-digests", "--dest-tls-verify=false", $"oci:{HandmadeLayout}:1", $"docker://{Host}/test/handmade:1");
        }
        catch (Exception e)
        {
            Failure = e;
        }
    }

    public string? SkipReason { get; }

    public Exception? Failure { get; }

    public string Dir { get; } = "";

    /// <summary>The registry of everything but the zstd image (<c>127.0.0.1:PORT</c>).</summary>
    public string Host => _registry!.Host;

    public string RegistryOrigin => _registry!.Origin;

    /// <summary>The registry holding <c>test/layered:zstd</c>.</summary>
    public string ZstdHost => _zstdRegistry!.Host;

    /// <summary>The registry storage folder of <see cref="Host"/> (for tampering).</summary>
    public string Storage => Path.Combine(Dir, "storage");

    /// <summary>An OCI layout of the layered image (skopeo from buildah's storage), named <c>layered</c>.</summary>
    public string LayeredLayout { get; } = "";

    /// <summary>A docker archive of the layered image (skopeo), tagged <c>test/layered:1</c>.</summary>
    public string LayeredArchive { get; } = "";

    /// <summary>The OCI layout of the hand-made image, named <c>1</c>.</summary>
    public string HandmadeLayout { get; } = "";

    internal Buildah Buildah => _buildah!;

    public void Require()
    {
        Skip.If(SkipReason is not null, SkipReason);
        if (Failure is not null) throw new InvalidOperationException("building the container test images failed", Failure);
    }

    /// <summary>Skips unless umoci (the layer-merge oracle) is installed.</summary>
    public static void RequireUmoci() =>
        Skip.If(TestEnvironment.FindOnPath("umoci") is null, "needs 'umoci' on PATH (apt-get install umoci), the unpack oracle");

    /// <summary>The registry part of a reference for one of the images (the zstd one lives on its own registry).</summary>
    public string HostOf(string repoTag) => repoTag.EndsWith(":zstd", StringComparison.Ordinal) ? ZstdHost : Host;

    public string Ref(string repoTag) => $"docker://{HostOf(repoTag)}/{repoTag}";

    /// <summary>A new empty folder under the fixture's.</summary>
    public string NewDir(string prefix)
    {
        string d = Path.Combine(Dir, "work", $"{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(d);
        return d;
    }

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

    /// <summary>Where the registry keeps a blob's bytes.</summary>
    public string RegistryBlobPath(string digest)
    {
        string hex = digest["sha256:".Length..];
        return Path.Combine(Storage, "docker", "registry", "v2", "blobs", "sha256", hex[..2], hex, "data");
    }

    /// <summary>
    /// Builds an image with one layer of its own (random content) on the busybox base and pushes it as
    /// <c>test/NAME:1</c>, for tests that damage its blobs in the registry storage; returns the repo:tag.
    /// </summary>
    public string PushUnique(string name)
    {
        string image = $"localhost/rootfsforge-test/ctr-{name}:1";
        Buildah.Build(image, (_, root) => File.WriteAllText(Path.Combine(root, "etc", "unique"), Guid.NewGuid().ToString() + new string('u', 20000)));
        Buildah.Push(image, Host, $"test/{name}:1");
        return $"test/{name}:1";
    }

    /// <summary>The manifest of an image as the registry serves it (skopeo inspect --raw).</summary>
    public JsonElement RawManifest(string repoTag) =>
        JsonDocument.Parse(Buildah.Skopeo("inspect", "--raw", "--tls-verify=false", Ref(repoTag))).RootElement.Clone();

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
public sealed class ContainerImagesCollection : ICollectionFixture<ContainerImagesFixture>
{
    public const string Name = "container images (buildah + docker-registry + umoci)";
}

/// <summary>Layer tars written member by member by Python's <c>tarfile</c> (PAX), an implementation independent of RootfsForge's.</summary>
internal static class LayerTar
{
    /// <summary>One member: <paramref name="Kind"/> dir, file, sym, link, chr or fifo; a mode in octal; xattr values in hex.</summary>
    internal sealed record Member(string Kind, string Name, string? Data = null, string? Target = null, string? Mode = null,
        int Uid = 0, int Gid = 0, string? Mtime = null, string? Device = null, Dictionary<string, string>? Xattrs = null);

    private const string Script = """
import io, json, sys, tarfile
members = json.load(sys.stdin)
out = sys.stdout.buffer
with tarfile.open(fileobj=out, mode='w|', format=tarfile.PAX_FORMAT) as t:
    for m in members:
        ti = tarfile.TarInfo(m['Name'])
        ti.type = {'dir': tarfile.DIRTYPE, 'file': tarfile.REGTYPE, 'sym': tarfile.SYMTYPE, 'link': tarfile.LNKTYPE,
                   'chr': tarfile.CHRTYPE, 'fifo': tarfile.FIFOTYPE}[m['Kind']]
        ti.mode = int(m['Mode'] or ('755' if m['Kind'] == 'dir' else '644'), 8)
        ti.uid, ti.gid = m['Uid'], m['Gid']
        ti.mtime = 1700000000
        pax = {}
        if m['Mtime']:
            pax['mtime'] = m['Mtime']
        for k, v in (m['Xattrs'] or {}).items():
            pax['SCHILY.xattr.' + k] = bytes.fromhex(v).decode('ascii')
        ti.pax_headers = pax
        if m['Target'] is not None: ti.linkname = m['Target']
        if m['Device']: ti.devmajor, ti.devminor = map(int, m['Device'].split(':'))
        data = (m['Data'] or '').encode() if m['Kind'] == 'file' else None
        if data is not None: ti.size = len(data)
        t.addfile(ti, io.BytesIO(data) if data is not None else None)
""";

    /// <summary>A writer of the tar of <paramref name="members"/>, for <see cref="OciLayoutWriter.AddLayer"/>.</summary>
    public static Action<Stream> Members(params Member[] members) => s =>
    {
        var psi = new System.Diagnostics.ProcessStartInfo("python3")
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(Script);
        using var p = System.Diagnostics.Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var copy = p.StandardOutput.BaseStream.CopyToAsync(s);
        p.StandardInput.Write(JsonSerializer.Serialize(members));
        p.StandardInput.Close();
        copy.GetAwaiter().GetResult();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException("python3 tarfile failed: " + stderr.Result);
    };
}
