using System.Text.Json;
using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Oci;

/// <summary>
/// <c>rootfsforge container</c> on real images (buildah-built, pushed to docker-registry; hand-made layers) compared
/// entry by entry with what <c>umoci unpack</c> makes of the same image (<see cref="OciImagesFixture.Oracle"/>):
/// type, permissions, owner, mtime (ns), size, content, symlink target, xattrs, hard-link groups, devices — read back
/// by Python alone (<see cref="RootfsDump"/>). Outputs: a directory, tar / tar.gz / tar.zst, and a .fl read back through
/// <c>fl verify</c> and <c>fl extract</c>; <c>/.startup.toml</c> against <c>skopeo inspect --config</c>.
/// </summary>
/// <remarks>
/// What the comparison leaves out, output by output (everything else is equal):
/// <list type="bullet">
/// <item>Directory and tar outputs: nothing but <c>/.startup.toml</c>, which umoci does not write (compared with
/// <c>--no-startup</c>; the file is checked on its own). A tar has no entry for what umoci does not unpack either:
/// the root's metadata comes from a <c>./</c> member when a layer has one, else 0755 root 0:0 time 0 on both sides.
/// Owner names (uname/gname) are not compared: umoci and the directory output resolve owners numerically and a
/// directory cannot hold names.</item>
/// <item><c>.fl</c> (docs/flist-format.md §2.2–2.3): no xattrs (security.capability and user.* are dropped, with a
/// warning naming the file), whole-second mtimes, and no hard links (each name is its own inode with the same
/// blocks); everything else — type, mode, owner, size, content, symlink target, FIFOs — comes back equal from
/// <c>fl extract</c>.</item>
/// </list>
/// </remarks>
[Collection(OciImagesCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class ContainerFlistTests(OciImagesFixture images)
{
    /// <summary>Runs the CLI with a private TMPDIR (which must be empty afterwards: layer spools are unlinked at once).</summary>
    internal static (int Code, string StdOut, string StdErr) Cli(string workDir, params string[] args)
    {
        string tmp = Path.Combine(workDir, ".tmp");
        Directory.CreateDirectory(tmp);
        var result = TestEnvironment.Run("dotnet", [TestEnvironment.CliDll, .. args], workDir, TimeSpan.FromMinutes(10),
            new Dictionary<string, string> { ["TMPDIR"] = tmp });
        Assert.True(Directory.GetFileSystemEntries(tmp).Length == 0,
            $"left in TMPDIR: {string.Join(", ", Directory.GetFileSystemEntries(tmp))}");
        Directory.Delete(tmp);
        return result;
    }

    private (int Code, string StdOut, string StdErr) Container(string work, string repoTag, string output, params string[] extra) =>
        Cli(work, ["container", images.Ref(repoTag), "-o", output, "--insecure-registry", images.HostOf(repoTag),
            "--cache", Path.Combine(work, "cache"), .. extra]);

    /// <summary>
    /// Directories whose mtime umoci takes from the clock, in the hand-made image: parents that no layer names
    /// (<c>absolute</c> for <c>/absolute/file</c>, the long name's first component), which umoci's <c>MkdirAll</c> makes
    /// at unpack time, and the root they are made in, whose time umoci does not restore afterwards (it restores a
    /// parent's metadata only around members whose parent exists). Their times come from the layers in rootfsforge's
    /// output — time 0 for a made parent, as for every synthesized directory (docs/tar-output.md §10), the <c>./</c>
    /// member's for the root — asserted in <see cref="HandmadeImage_HostileNamesLandInsideTheRoot"/>.
    /// </summary>
    private static readonly string[] UmociClockTimes = ["/", "absolute", new string('n', 120)];

    /// <summary>The dumps compared, with <see cref="UmociClockTimes"/> left out for the hand-made image.</summary>
    private static void AssertSameTree(string repoTag, string[] oracle, string[] actual, string what)
    {
        if (repoTag.Contains("handmade", StringComparison.Ordinal))
        {
            oracle = RootfsDump.WithoutMtime(oracle, UmociClockTimes);
            actual = RootfsDump.WithoutMtime(actual, UmociClockTimes);
        }
        RootfsDump.AssertSame(oracle, actual, what);
    }

    private static void AssertOk((int Code, string StdOut, string StdErr) r, string what) =>
        Assert.True(r.Code == 0, $"{what}: exit {r.Code}\n{r.StdErr}");

    [SkippableTheory]
    [InlineData("test/layered:gzip")]
    [InlineData("test/layered:zstd")]
    [InlineData("test/layered:v2s2")]
    [InlineData("test/handmade:1")]
    public void Directory_EqualsUmociUnpack(string repoTag)
    {
        images.Require();
        var oracle = RootfsDump.Of(images.Oracle(repoTag));
        string work = images.NewDir("dir");
        string output = Path.Combine(work, "rootfs");
        AssertOk(Container(work, repoTag, output, "--no-startup", "-q"), repoTag);
        AssertSameTree(repoTag, oracle, RootfsDump.Of(output), $"{repoTag} -o DIR");
        Assert.Equal(["cache", "rootfs"], Directory.GetFileSystemEntries(work).Select(Path.GetFileName).Order());
    }

    [SkippableTheory]
    [InlineData("test/layered:gzip", "x.tar")]
    [InlineData("test/layered:zstd", "x.tar.gz")]
    [InlineData("test/layered:v2s2", "x.tar.zst")]
    [InlineData("test/handmade:1", "x.tar.gz")]
    public void Tar_EqualsUmociUnpack(string repoTag, string name)
    {
        images.Require();
        if (name.EndsWith(".zst", StringComparison.Ordinal)) TestEnvironment.RequireTool("zstd");
        var oracle = RootfsDump.Of(images.Oracle(repoTag));
        string work = images.NewDir("tar");
        string output = Path.Combine(work, name);
        AssertOk(Container(work, repoTag, output, "--no-startup", "-q"), repoTag);
        AssertSameTree(repoTag, oracle, RootfsDump.Of(output), $"{repoTag} -o {name}");
        // GNU tar reads it too, without a complaint.
        TestEnvironment.RunChecked("tar", ["-tf", output]);
    }

    [SkippableFact]
    public void HandmadeLayout_ReadInPlace_EqualsUmociUnpack()
    {
        images.Require();
        var oracle = RootfsDump.Of(images.HandmadeOracle());
        string work = images.NewDir("layout");
        string output = Path.Combine(work, "rootfs");
        var r = Cli(work, "container", $"oci:{images.HandmadeLayout}:1", "-o", output, "--no-startup", "-q");
        AssertOk(r, "oci: layout");
        AssertSameTree("handmade", oracle, RootfsDump.Of(output), "oci:LAYOUT:1 -o DIR");
    }

    /// <summary>
    /// To a <c>.fl</c>, the layers' contents live in the sink's block spool; lint reads files of the tree after the sink
    /// completed (zinit units here), and must see them.
    /// </summary>
    [SkippableFact]
    public void Flist_LintReadsLayerFilesAfterTheSink()
    {
        string work = TestEnvironment.NewTempDir("rff-ctr-lint");
        var w = new OciLayoutWriter(Path.Combine(work, "layout"));
        w.AddLayer(LayerTar.Members(
            new("dir", "bin"), new("file", "bin/sh", "#!/not/really\n", Mode: "755"),
            new("dir", "etc"), new("dir", "etc/zinit"),
            new("file", "etc/zinit/web.yaml", "exec: /usr/bin/webd --port 80\n"),
            new("file", "etc/zinit/ok.yaml", "exec: /bin/sh -c true\n")), "gzip");
        w.Finish("1");
        string fl = Path.Combine(work, "x.fl"), store = Path.Combine(work, "store");
        var r = Cli(work, "container", $"oci:{w.Dir}:1", "-o", fl, "--store", $"dir://{store}");
        AssertOk(r, "container -o x.fl");
        Assert.Contains("zinit unit /etc/zinit/web.yaml: exec /usr/bin/webd does not resolve inside the tree", r.StdErr);
        Assert.DoesNotContain("ok.yaml", r.StdErr); // it passed: no warning
    }


    [SkippableTheory]
    [InlineData("oci")]
    [InlineData("docker-archive")]
    public void LocalSources_EqualUmociUnpack(string transport)
    {
        images.Require();
        var oracle = RootfsDump.Of(images.Oracle("test/layered:gzip"));
        string work = images.NewDir(transport);
        string output = Path.Combine(work, "x.tar.gz");
        string reference = transport == "oci" ? $"oci:{images.LayeredLayout}:layered" : $"docker-archive:{images.LayeredArchive}";
        AssertOk(Cli(work, "container", reference, "-o", output, "--no-startup", "-q"), reference);
        RootfsDump.AssertSame(oracle, RootfsDump.Of(output), reference);
    }

    /// <summary>The oracle shows what each image is about, so the comparisons above cannot pass on trivial trees.</summary>
    [SkippableFact]
    public void LayeredImage_OracleHoldsWhatTheDockerfileDid()
    {
        images.Require();
        var dump = RootfsDump.Of(images.Oracle("test/layered:gzip"));
        string? L(string p) => RootfsDump.Line(dump, p);
        Assert.Null(L("data/gone")); // RUN rm -rf (a whiteout in the next layer)
        Assert.Null(L("data/lower.txt"));
        Assert.NotNull(L("data/new.txt"));
        Assert.Equal(["repl/fresh"], dump.Select(l => l.Split('\t')[0]).Where(p => p.StartsWith("repl/", StringComparison.Ordinal)));
        Assert.StartsWith("etc/shared-too\thardlink\tdata/shared-link", L("etc/shared-too"));
        Assert.Contains("\tsecurity.capability=0100000200200000000000000000000000000000\t", L("bin/ping2"));
        Assert.Contains("\tuser.test=68656c6c6f\t", L("etc/xfile"));
        Assert.StartsWith("opt/link\tsym\t777\t0:0\t", L("opt/link"));
        Assert.NotNull(L("opt/real/upper"));
        Assert.NotNull(L("opt/real/newdir/f"));
        Assert.StartsWith("data/fifo\tfifo\t", L("data/fifo"));
        Assert.StartsWith("data/keep\tdir\t4750\t", L("data/keep"));
        Assert.StartsWith("data/keep/k\treg\t644\t1000:2000\t", L("data/keep/k"));

        // The capability and the user xattr came from the layer's PAX records (containers/storage writes them there).
        var manifest = images.RawManifest("test/layered:gzip");
        string capsLayer = manifest.GetProperty("layers")[1].GetProperty("digest").GetString()!;
        string pax = TestEnvironment.RunChecked("python3", ["-c",
            "import tarfile,sys; t=tarfile.open(sys.argv[1]); print('\\n'.join(f'{m.name} {k}' for m in t for k in m.pax_headers))",
            images.RegistryBlobPath(capsLayer)]);
        Assert.Contains("bin/ping2 SCHILY.xattr.security.capability", pax);
        Assert.Contains("etc/xfile SCHILY.xattr.user.test", pax);
        // buildah's vfs driver replaced the directory with per-child whiteouts, not an opaque one.
        Assert.Equal(7, manifest.GetProperty("layers").GetArrayLength());
    }

    /// <summary>Where each hand-made member lands: by the image spec, and the same in the oracle and the output.</summary>
    [SkippableFact]
    public void HandmadeImage_HostileNamesLandInsideTheRoot()
    {
        images.Require();
        var oracle = RootfsDump.Of(images.Oracle("test/handmade:1"));
        string work = images.NewDir("hostile");
        string output = Path.Combine(work, "out", "rootfs");
        Directory.CreateDirectory(Path.GetDirectoryName(output)!);
        var r = Container(work, "test/handmade:1", output, "--no-startup");
        AssertOk(r, "handmade");
        var dump = RootfsDump.Of(output);
        AssertSameTree("handmade", oracle, dump, "handmade -o DIR");
        string? L(string p) => RootfsDump.Line(dump, p);

        Assert.StartsWith("/\tdir\t755\t0:0\t1700000000000000000\t", L("/"));   // the ./ member's
        Assert.StartsWith("absolute\tdir\t755\t0:0\t0\t", L("absolute")); // made as a parent
        Assert.StartsWith(new string('n', 120) + "\tdir\t755\t0:0\t0\t", L(new string('n', 120)));
        Assert.StartsWith("escape\treg\t", L("escape"));                 // ../../escape
        Assert.StartsWith("absolute/file\treg\t", L("absolute/file"));   // /absolute/file
        Assert.StartsWith("real/upper\treg\t", L("real/upper"));         // link/upper, link -> real
        Assert.StartsWith("real/upper2\treg\t", L("real/upper2"));       // abs/upper2, abs -> /real
        Assert.StartsWith("outside\treg\t", L("outside"));               // up/outside, up -> ../../..
        Assert.Equal(["opq/new"], dump.Select(l => l.Split('\t')[0]).Where(p => p.StartsWith("opq/", StringComparison.Ordinal)));
        Assert.StartsWith("opq\tdir\t750\t7:8\t", L("opq"));
        Assert.Null(L("etc/gone"));
        Assert.NotNull(L("etc/keep"));
        Assert.StartsWith("real/lower\tsym\t777\t0:0\t1700000000000000000\t0\t-\tupper\t", L("real/lower"));
        // One inode with three names (the lowest layer's file; the dump names the group after its first name in walk order).
        Assert.StartsWith("hl\treg\t644\t1234:5678\t1700000000000000000\t22\t", L("hl"));
        Assert.Equal("hl2\thardlink\thl", L("hl2"));
        Assert.Equal("shared\thardlink\thl", L("shared"));
        Assert.StartsWith("dev/zero\tchr\t666\t0:0\t1700000000000000000\t0\t1:5\t", L("dev/zero"));
        Assert.StartsWith("dev/pipe\tfifo\t", L("dev/pipe"));
        Assert.StartsWith("nanos\treg\t644\t0:0\t1700000000123456789\t", L("nanos"));
        Assert.Contains("\tsecurity.capability=0100000200200000000000000000000000000000,user.note=6869\t", L("ping"));
        Assert.StartsWith("ping\treg\t4755\t", L("ping"));
        Assert.NotNull(L(new string('n', 120) + "/" + new string('m', 120)));
        // Nothing landed beside the output, and the warnings name what was made relative.
        Assert.Equal([output], Directory.GetFileSystemEntries(Path.GetDirectoryName(output)!));
        Assert.Equal(["cache", "out"], Directory.GetFileSystemEntries(work).Select(Path.GetFileName).Order());
        Assert.Contains("absolute member names were made relative", r.StdErr);
        Assert.Contains("'..'", r.StdErr);
    }

    [SkippableFact]
    public void MultiArchIndex_PlatformPicked()
    {
        images.Require();
        string work = images.NewDir("multi");
        string arm = Path.Combine(work, "arm");
        AssertOk(Container(work, "test/ctr-multi:1", arm, "--platform", "linux/arm64/v8", "--no-startup", "-q"), "arm64");
        RootfsDump.AssertSame(RootfsDump.Of(images.Oracle("test/ctr-multi:1", "arm64", "v8")), RootfsDump.Of(arm), "multi arm64");
        Assert.Equal("arm64\n", File.ReadAllText(Path.Combine(arm, "etc", "arch")));

        string amd = Path.Combine(work, "amd");
        AssertOk(Container(work, "test/ctr-multi:1", amd, "--no-startup", "-q"), "default platform");
        RootfsDump.AssertSame(RootfsDump.Of(images.Oracle("test/layered:gzip")), RootfsDump.Of(amd), "multi default (linux/amd64)");

        // A platform the index does not have: bad input (exit 3), naming what it has; no output.
        var r = Container(work, "test/ctr-multi:1", Path.Combine(work, "none"), "--platform", "linux/s390x", "-q");
        Assert.Equal(3, r.Code);
        Assert.Contains("linux/s390x", r.StdErr);
        Assert.Contains("linux/arm64", r.StdErr);
        Assert.Contains("linux/amd64", r.StdErr);
        Assert.False(Path.Exists(Path.Combine(work, "none")));
    }

    [SkippableTheory]
    [InlineData("test/layered:gzip")]
    [InlineData("test/handmade:1")]
    public void StartupToml_MatchesTheImageConfig(string repoTag)
    {
        images.Require();
        string work = images.NewDir("startup");
        string tar = Path.Combine(work, "x.tar");
        AssertOk(Container(work, repoTag, tar, "-q"), repoTag);
        // python: the member's header, and the file parsed by tomllib (an independent TOML 1.0 parser).
        string json = TestEnvironment.RunChecked("python3", ["-c", """
            import tarfile, tomllib, json, sys
            t = tarfile.open(sys.argv[1])
            m = t.getmember('./.startup.toml')
            print(json.dumps({'mode': m.mode & 0o7777, 'uid': m.uid, 'gid': m.gid, 'type': m.type.decode(),
                              'toml': tomllib.loads(t.extractfile(m).read().decode('utf-8'))}))
            """, tar]);
        var got = JsonDocument.Parse(json).RootElement;
        Assert.Equal(0x1A4, got.GetProperty("mode").GetInt32());
        Assert.Equal(0, got.GetProperty("uid").GetInt32());
        Assert.Equal("0", got.GetProperty("type").GetString());
        var args = got.GetProperty("toml").GetProperty("startup").GetProperty("entry");
        Assert.Equal("core.system", args.GetProperty("name").GetString());
        args = args.GetProperty("args");

        // What a runtime runs: Entrypoint then Cmd (image-spec config.md), in WorkingDir, with Env.
        var config = images.Config(repoTag).GetProperty("config");
        string[] Words(string key) => config.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.Array
            ? v.EnumerateArray().Select(x => x.GetString()!).ToArray() : [];
        var command = Words("Entrypoint").Concat(Words("Cmd")).ToArray();
        Assert.NotEmpty(command);
        Assert.Equal(command[0], args.GetProperty("name").GetString());
        Assert.Equal(command[1..], args.GetProperty("args").EnumerateArray().Select(a => a.GetString()!));
        string dir = config.TryGetProperty("WorkingDir", out var wd) && wd.GetString() is { Length: > 0 } w ? w : "/";
        Assert.Equal(dir, args.GetProperty("dir").GetString());
        var env = Words("Env").Select(e => e.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        var tomlEnv = args.TryGetProperty("env", out var te)
            ? te.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!) : [];
        Assert.Equal(env.OrderBy(p => p.Key), tomlEnv.OrderBy(p => p.Key));
        if (repoTag == "test/layered:gzip")
        {
            Assert.Equal(["/bin/sh", "-c", "echo hi"], command);
            Assert.Equal("say \"hi\"", tomlEnv["QUOTE"]);
            Assert.Equal("x y", tomlEnv["B"]);
            Assert.Equal("/data", dir);
        }
    }

    /// <summary>
    /// A container flist round trip: <c>container … -o X.fl --store dir://…</c>, <c>fl verify</c>, <c>fl extract</c>, and
    /// the extracted tree equal to umoci's except for what a .fl cannot hold (see the class remarks).
    /// </summary>
    [SkippableTheory]
    [InlineData("test/layered:gzip")]
    [InlineData("test/handmade:1")]
    public void Flist_RoundTripsToTheUmociTree(string repoTag)
    {
        images.Require();
        TestEnvironment.RequireTool("sqlite3");
        string work = images.NewDir("fl");
        string fl = Path.Combine(work, "x.fl");
        string store = Path.Combine(work, "store");
        var r = Container(work, repoTag, fl, "--store", $"dir://{store}", "--tag", "team=qa");
        AssertOk(r, "container -o X.fl");
        // The capability is dropped by name.
        if (repoTag == "test/layered:gzip") Assert.Contains("bin/ping2: file capabilities (security.capability) dropped", r.StdErr);

        // The layers' contents were encoded as they were decompressed, files later layers delete or replace too: the store
        // holds exactly the blocks the .fl names, none of those.
        var named = TestEnvironment.RunChecked("sqlite3", [fl, "SELECT DISTINCT lower(hex(id)) FROM block"])
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal);
        Assert.Equal(named, Directory.EnumerateFiles(store).Select(f => Path.GetFileName(f)).Order(StringComparer.Ordinal));

        var verify = Cli(work, "fl", "verify", fl);
        AssertOk(verify, "fl verify");
        Assert.Contains("ok", verify.StdErr + verify.StdOut);
        string extracted = Path.Combine(work, "extracted");
        AssertOk(Cli(work, "fl", "extract", fl, "-o", extracted), "fl extract");

        var expected = RootfsDump.Of(images.Oracle(repoTag), RootfsDump.Options.Flist).ToList();
        var actual = RootfsDump.Of(extracted, RootfsDump.Options.Flist);
        // The one entry umoci does not make (its content is checked by StartupToml_MatchesTheImageConfig).
        string startup = actual.Single(l => l.StartsWith(".startup.toml\t", StringComparison.Ordinal));
        Assert.StartsWith(".startup.toml\treg\t644\t0:0\t", startup);
        expected.Insert(1, startup);
        AssertSameTree(repoTag, [.. expected], actual, $"{repoTag} -o X.fl, fl extract");

        // Tags: where it came from (sqlite3 reads the .fl, not RootfsForge).
        var tags = TestEnvironment.RunChecked("sqlite3", ["-separator", "\t", fl, "SELECT key, value FROM tag ORDER BY key"])
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('\t', 2)).ToDictionary(p => p[0], p => p[1]);
        string digest = JsonDocument.Parse(images.Buildah.Skopeo("inspect", "--tls-verify=false", images.Ref(repoTag)))
            .RootElement.GetProperty("Digest").GetString()!;
        Assert.Equal(images.Ref(repoTag), tags["source"]);
        Assert.Equal(digest, tags["digest"]);
        Assert.Equal("linux/amd64", tags["platform"]);
        Assert.Equal("qa", tags["team"]);
        var labels = images.Config(repoTag).GetProperty("config").TryGetProperty("Labels", out var l) && l.ValueKind == JsonValueKind.Object
            ? l.EnumerateObject().ToDictionary(p => "label." + p.Name, p => p.Value.GetString()!) : [];
        Assert.Equal(labels.OrderBy(p => p.Key), tags.Where(t => t.Key.StartsWith("label.", StringComparison.Ordinal)).OrderBy(p => p.Key));
        if (repoTag == "test/layered:gzip") Assert.Equal("two words", tags["label.org.example.other"]);
    }

    [SkippableFact]
    public void DefaultOutputName_FollowsTheHub()
    {
        images.Require();
        string work = images.NewDir("name");
        AssertOk(Container(work, "test/layered:gzip", "x.tar.gz", "-q"), "warm the cache");
        var r = Cli(work, "container", images.Ref("test/layered:gzip"), "--insecure-registry", images.Host,
            "--cache", Path.Combine(work, "cache"), "-q");
        AssertOk(r, "default output");
        Assert.True(File.Exists(Path.Combine(work, "test-layered-gzip.tar.gz")),
            string.Join(", ", Directory.GetFileSystemEntries(work).Select(Path.GetFileName)));
    }
}

/// <summary>
/// The default output name, the 0-hub's name for an image (docs/flist-format.md §9): <c>:</c> and <c>/</c> become
/// <c>-</c>, <c>latest</c> when no tag; local layouts and archives are named after their folder or file.
/// </summary>
public class ContainerNameTests
{
    [Theory]
    [InlineData("docker://redis:7", "redis-7")]
    [InlineData("docker://team/app", "team-app-latest")]
    [InlineData("docker://docker.io/library/nginx:1.25", "nginx-1.25")]
    [InlineData("docker://127.0.0.1:5000/test/layered:gzip", "test-layered-gzip")]
    [InlineData("docker://ghcr.io/org/img@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "org-img-sha256-0123456789ab")]
    [InlineData("oci:/srv/layouts/app:v1", "app-v1")]
    [InlineData("oci:/srv/layouts/app/", "app-latest")]
    [InlineData("docker-archive:/srv/app.tar", "app-latest")]
    public void HubNames(string reference, string name) =>
        Assert.Equal(name, RootfsForge.Sources.Oci.ContainerFlist.Name(RootfsForge.Sources.Oci.ImageReference.Parse(reference)));

    /// <summary>A relative layout path that ends in "." is named after the folder it means, not ".".</summary>
    [Theory]
    [InlineData("oci:.:v1")]
    [InlineData("oci:./:v1")]
    public void RelativeDot_NamedAfterTheFolder(string reference) =>
        Assert.Equal(Path.GetFileName(Environment.CurrentDirectory.TrimEnd('/')) + "-v1",
            RootfsForge.Sources.Oci.ContainerFlist.Name(RootfsForge.Sources.Oci.ImageReference.Parse(reference)));
}
