using RootfsForge.NativeTests.Support;

namespace RootfsForge.NativeTests.Oci;

/// <summary>
/// Debian's buildah with private vfs storage in a temporary folder (no daemon, <c>--isolation chroot</c>), and skopeo
/// reading that storage: builds images from a local busybox-static base (Docker Hub is not reachable here), commits,
/// pushes to the test registries, and writes OCI layouts and docker archives. Needs root.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
internal sealed class Buildah : IDisposable
{
    /// <summary>The base image: busybox-static's /bin/busybox with its applet links in /bin.</summary>
    public const string BaseImage = "localhost/rootfsforge-test/busybox:1";

    private readonly Dictionary<string, string> _env;
    private bool _baseBuilt;

    public Buildah()
    {
        Dir = TestEnvironment.NewTempDir("rff-buildah");
        _env = new Dictionary<string, string>
        {
            ["STORAGE_DRIVER"] = "vfs",
            ["BUILDAH_ISOLATION"] = "chroot",
            ["TMPDIR"] = Path.Combine(Dir, "tmp"),
        };
        Directory.CreateDirectory(_env["TMPDIR"]);
    }

    public string Dir { get; }

    private string Root => Path.Combine(Dir, "root");

    private string RunRoot => Path.Combine(Dir, "runroot");

    /// <summary>The reason the tools cannot be used here, or null.</summary>
    public static string? Unavailable()
    {
        if (!TestEnvironment.IsRoot) return "needs root: buildah with vfs storage and chroot isolation";
        foreach (var tool in new[] { "buildah", "skopeo", "docker-registry" })
            if (TestEnvironment.FindOnPath(tool) is null) return $"needs '{tool}' on PATH (tools/setup.sh installs it)";
        if (!File.Exists("/bin/busybox")) return "needs /bin/busybox (Debian package busybox-static)";
        return null;
    }

    /// <summary>The skopeo/containers-image name of an image in this storage.</summary>
    public string Storage(string image) => $"containers-storage:[vfs@{Root}+{RunRoot}]{image}";

    /// <summary>Runs <c>buildah</c> with this storage; returns stdout, throws with stderr on failure.</summary>
    public string Run(params string[] args) => Tool("buildah", ["--root", Root, "--runroot", RunRoot, "--storage-driver", "vfs", .. args]);

    /// <summary>Runs <c>skopeo</c> (with this storage's environment).</summary>
    public string Skopeo(params string[] args) => Tool("skopeo", ["--insecure-policy", .. args]);

    private string Tool(string tool, IEnumerable<string> args)
    {
        var list = args.ToList();
        var (code, stdout, stderr) = TestEnvironment.Run(tool, list, Dir, TimeSpan.FromMinutes(5), _env);
        if (code != 0) throw new InvalidOperationException($"{tool} {string.Join(' ', list)} exited {code}: {stderr}{stdout}");
        return stdout.Trim();
    }

    /// <summary>Builds <see cref="BaseImage"/> once: <c>buildah from scratch</c> + busybox and its applet links.</summary>
    public string Base()
    {
        if (_baseBuilt) return BaseImage;
        BusyboxImage(BaseImage);
        _baseBuilt = true;
        return BaseImage;
    }

    /// <summary>
    /// A one-layer busybox image like <see cref="BaseImage"/>; a <paramref name="marker"/> file (/etc/marker) makes
    /// its layer differ from the base's, so a push cannot reuse blobs already in a registry in another compression.
    /// </summary>
    public string BusyboxImage(string name, string? marker = null)
    {
        string c = Run("from", "scratch");
        string root = Run("mount", c);
        Directory.CreateDirectory(Path.Combine(root, "bin"));
        File.Copy("/bin/busybox", Path.Combine(root, "bin", "busybox"));
        File.SetUnixFileMode(Path.Combine(root, "bin", "busybox"), (UnixFileMode)0b111_101_101);
        Run("run", "--isolation", "chroot", c, "--", "/bin/busybox", "--install", "-s", "/bin");
        Run("run", "--isolation", "chroot", c, "--", "/bin/sh", "-c", "mkdir -p /etc /tmp /root && echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd && echo 'root:x:0:' > /etc/group");
        if (marker is not null) File.WriteAllText(Path.Combine(root, "etc", "marker"), marker);
        Run("config", "--cmd", "/bin/sh", "--os", "linux", "--arch", "amd64", c);
        Run("commit", "--rm", c, name);
        return name;
    }

    /// <summary>
    /// Builds an image from <paramref name="from"/> (default: the busybox base): <paramref name="steps"/> get the
    /// working container's name and its mounted root folder, then it is committed as <paramref name="name"/>.
    /// </summary>
    public string Build(string name, Action<string, string> steps, string? from = null)
    {
        string c = Run("from", "--pull=never", from ?? Base());
        string root = Run("mount", c);
        steps(c, root);
        Run("commit", "--rm", c, name);
        return name;
    }

    /// <summary>Runs a shell command inside a working container (chroot isolation).</summary>
    public void Sh(string container, string script) => Run("run", "--isolation", "chroot", container, "--", "/bin/sh", "-c", script);

    /// <summary>
    /// <c>buildah bud --layers</c> of the Dockerfile in <paramref name="contextDir"/>: one layer per RUN/COPY/ADD, as
    /// <c>docker build</c> makes them (FROM must name a local image such as <see cref="BaseImage"/>).
    /// </summary>
    public string BuildDockerfile(string contextDir, string name)
    {
        Base();
        Run("bud", "--isolation", "chroot", "--pull=never", "--layers", "-t", name, contextDir);
        return name;
    }

    /// <summary>Writes an OCI layout of <paramref name="image"/> (skopeo, layers as stored) at DIR, named <paramref name="tag"/>.</summary>
    public string ToOciLayout(string image, string dir, string tag)
    {
        Skopeo("copy", Storage(image), $"oci:{dir}:{tag}");
        return dir;
    }

    /// <summary>Pushes to a plain-HTTP registry: <paramref name="format"/> oci or v2s2, compression gzip or zstd.</summary>
    public void Push(string image, string registryHost, string repoAndTag, string format = "oci", string compression = "gzip") =>
        Run("push", "--tls-verify=false", "--format", format, "--compression-format", compression, image, $"docker://{registryHost}/{repoAndTag}");

    public void Dispose()
    {
        try
        {
            Run("rm", "--all");
        }
        catch (InvalidOperationException)
        {
        }
        TestEnvironment.Run("rm", ["-rf", "--one-file-system", Dir]);
    }
}
