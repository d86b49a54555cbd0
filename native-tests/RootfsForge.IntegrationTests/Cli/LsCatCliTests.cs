using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Cli;

/// <summary>
/// <c>ls</c> and <c>cat</c> on every kind of tree input (opened through TreeInput, like <c>extract</c>): a directory,
/// tars (plain, gzip, zstd), a <c>.fl</c> with its store, and an ext4 image made with <c>mke2fs -d</c> of the same tree;
/// each lists the same names and reads the same bytes, symlinks resolved inside the tree. Container image references
/// are covered in <c>ContainerCliTests</c>.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class LsCatCliTests : IDisposable
{
    private readonly string _dir = TestEnvironment.NewTempDir("rff-lscat");

    /// <summary>The tree: /etc with a file, a hard link and an absolute symlink, /usr/bin, /bin -> usr/bin, an empty directory.</summary>
    private string MakeTree()
    {
        string root = Path.Combine(_dir, "tree");
        Directory.CreateDirectory(Path.Combine(root, "etc"));
        Directory.CreateDirectory(Path.Combine(root, "usr", "bin"));
        Directory.CreateDirectory(Path.Combine(root, "empty"));
        File.WriteAllText(Path.Combine(root, "etc", "os-release"), "NAME=test\n");
        File.CreateSymbolicLink(Path.Combine(root, "etc", "abs-link"), "/etc/os-release");
        TestEnvironment.RunChecked("ln", [Path.Combine(root, "etc", "os-release"), Path.Combine(root, "etc", "hard")]);
        File.WriteAllText(Path.Combine(root, "usr", "bin", "tool"), "#!/bin/sh\necho tool\n");
        File.SetUnixFileMode(Path.Combine(root, "usr", "bin", "tool"), (UnixFileMode)0b111_101_101);
        File.CreateSymbolicLink(Path.Combine(root, "bin"), "usr/bin");
        return root;
    }

    /// <summary>The same tree as every input kind ls and cat read (only those whose tools are installed).</summary>
    private List<(string Name, string[] Args)> Inputs(string root)
    {
        var inputs = new List<(string, string[])> { ("directory", [root]) };
        foreach (var (name, flag) in new[] { ("x.tar", ""), ("x.tar.gz", "z"), ("x.tar.zst", "--zstd") })
        {
            string tar = Path.Combine(_dir, name);
            string[] args = flag switch { "" => ["-cf", tar], "z" => ["-czf", tar], _ => ["--zstd", "-cf", tar] };
            if (flag == "--zstd" && TestEnvironment.FindOnPath("zstd") is null) continue;
            TestEnvironment.RunChecked("tar", [.. args, "--numeric-owner", "-C", root, "."]);
            inputs.Add((name, [tar]));
        }
        string fl = Path.Combine(_dir, "x.fl"), store = Path.Combine(_dir, "store");
        var pack = TestEnvironment.RunCli("fl", "pack", root, "-o", fl, "--store", "dir://" + store, "-q");
        Assert.True(pack.ExitCode == 0, pack.StdErr);
        inputs.Add(("x.fl", [fl]));
        if (TestEnvironment.FindOnPath("mke2fs") is not null)
        {
            string ext4 = Path.Combine(_dir, "x.ext4");
            TestEnvironment.RunChecked("mke2fs", ["-q", "-F", "-t", "ext4", "-d", root, ext4, "8M"]);
            inputs.Add(("ext4 image", [ext4]));
        }
        return inputs;
    }

    [Fact]
    public void Ls_SameNamesForEveryInputKind()
    {
        string root = MakeTree();
        foreach (var (name, input) in Inputs(root))
        {
            var etc = TestEnvironment.RunCli(["ls", .. input, "/etc"]);
            Assert.True(etc.ExitCode == 0, $"{name}: {etc.StdErr}");
            Assert.Equal(["abs-link", "hard", "os-release"], Lines(etc.StdOut));
            // /bin is a symlink to usr/bin: listed through it, as ls of the image's root sees it.
            var bin = TestEnvironment.RunCli(["ls", .. input, "/bin"]);
            Assert.True(bin.ExitCode == 0, $"{name}: {bin.StdErr}");
            Assert.Equal(["tool"], Lines(bin.StdOut));
            var top = TestEnvironment.RunCli(["ls", .. input]);
            Assert.True(top.ExitCode == 0, $"{name}: {top.StdErr}");
            Assert.Equal(["bin", "empty", "etc", "usr"], Lines(top.StdOut).Where(l => l != "lost+found"));
            var longEtc = TestEnvironment.RunCli(["ls", .. input, "/etc", "-l"]);
            Assert.True(longEtc.ExitCode == 0, $"{name}: {longEtc.StdErr}");
            Assert.Contains(Lines(longEtc.StdOut), l => l.StartsWith("lrwxrwxrwx", StringComparison.Ordinal) && l.EndsWith("abs-link -> /etc/os-release", StringComparison.Ordinal));
            Assert.Contains(Lines(longEtc.StdOut), l => l.StartsWith("-rw-r--r--", StringComparison.Ordinal) && l.EndsWith(" hard", StringComparison.Ordinal));
            var missing = TestEnvironment.RunCli(["ls", .. input, "/nope"]);
            Assert.True(missing.ExitCode == 2, $"{name}: {missing}");
            Assert.Contains("/nope: no such file or directory", missing.StdErr);
        }
    }

    [Fact]
    public void Cat_SameBytesForEveryInputKind_LinksResolvedInsideTheTree()
    {
        string root = MakeTree();
        foreach (var (name, input) in Inputs(root))
        {
            foreach (var path in new[] { "/etc/os-release", "/etc/abs-link", "/etc/hard" })
            {
                var r = TestEnvironment.RunCli(["cat", .. input, path]);
                Assert.True(r.ExitCode == 0, $"{name} {path}: {r.StdErr}");
                Assert.Equal("NAME=test\n", r.StdOut);
            }
            var tool = TestEnvironment.RunCli(["cat", .. input, "/bin/tool"]);
            Assert.True(tool.ExitCode == 0, $"{name}: {tool.StdErr}");
            Assert.Equal("#!/bin/sh\necho tool\n", tool.StdOut);
            var dir = TestEnvironment.RunCli(["cat", .. input, "/etc"]);
            Assert.True(dir.ExitCode == 2, $"{name}: {dir}");
            Assert.Contains("is a Directory, not a file", dir.StdErr);
            var missing = TestEnvironment.RunCli(["cat", .. input, "/etc/none"]);
            Assert.True(missing.ExitCode == 2, $"{name}: {missing}");
            Assert.Contains("no such file", missing.StdErr);
        }
    }

    [Fact]
    public void MissingInput_Exit2()
    {
        foreach (var command in new[] { "ls", "cat" })
        {
            var r = TestEnvironment.RunCli(command, Path.Combine(_dir, "none.tar"), "/etc/os-release");
            Assert.True(r.ExitCode == 2, $"{command}: {r}");
            Assert.Contains("none.tar: no such file or directory", r.StdErr);
        }
    }

    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    public void Dispose() => TestEnvironment.Run("rm", ["-rf", "--one-file-system", _dir]);
}

/// <summary>
/// <c>ls</c> and <c>cat</c> of container image references (the layered image of <see cref="Oci.OciImagesFixture"/>):
/// docker://, oci:DIR:TAG and docker-archive:FILE each show the merged layers (deletions applied, files written
/// through a lower layer's symlink), with the same options as every command that reads a reference.
/// </summary>
[Collection(Oci.OciImagesCollection.Name)]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class LsCatReferenceCliTests(Oci.OciImagesFixture images)
{
    [SkippableFact]
    public void LsAndCat_OfReferences_ShowTheMergedLayers()
    {
        images.Require();
        string work = images.NewDir("lscat");
        string[] options = ["--insecure-registry", images.Host, "--cache", Path.Combine(work, "cache")];
        foreach (var reference in new[] { images.Ref("test/layered:gzip"), $"oci:{images.LayeredLayout}:layered", $"docker-archive:{images.LayeredArchive}" })
        {
            // /opt/link -> real: a later layer wrote upper and newdir/ through the link.
            var ls = Oci.ContainerFlistTests.Cli(work, ["ls", reference, "/opt/link", .. options]);
            Assert.True(ls.Code == 0, $"{reference}: {ls.StdErr}");
            Assert.Equal(["lower", "newdir", "upper"], ls.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.DoesNotContain("layer", ls.StdErr); // progress only with -v
            var data = Oci.ContainerFlistTests.Cli(work, ["ls", reference, "/data", .. options]);
            Assert.True(data.Code == 0, $"{reference}: {data.StdErr}");
            Assert.DoesNotContain("gone", data.StdOut); // deleted by a later RUN
            Assert.Contains("new.txt", data.StdOut);

            var cat = Oci.ContainerFlistTests.Cli(work, ["cat", reference, "/data/abs-link", .. options]);
            Assert.True(cat.Code == 0, $"{reference}: {cat.StdErr}");
            Assert.Equal("shared\n", cat.StdOut);
            var upper = Oci.ContainerFlistTests.Cli(work, ["cat", reference, "/opt/real/upper", "-v", .. options]);
            Assert.True(upper.Code == 0, $"{reference}: {upper.StdErr}");
            Assert.Equal("added-through-link\n", upper.StdOut);
            Assert.Contains("applied", upper.StdErr); // -v: the layers applied
            var gone = Oci.ContainerFlistTests.Cli(work, ["cat", reference, "/data/gone/g", .. options]);
            Assert.True(gone.Code == 2, $"{reference}: {gone}");
        }
    }
}
