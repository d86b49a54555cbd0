using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Packaging;

/// <summary>
/// samples/ImageToTar, built as a user builds it: a console project outside the repository that takes RootfsForge.Core
/// from the locally packed feed (and its dependencies from the NuGet registry). It then turns an image made by
/// `mke2fs -d` into a tar, which GNU tar must list as the input tree and whose file contents must be the input's.
/// </summary>
[Collection(PackageFeedCollection.Name)]
public sealed class SampleTests(PackageFeed feed)
{
    [SkippableFact]
    public void ImageToTarSampleBuildsFromThePackagesAndWritesTheImagesTree()
    {
        feed.Require();
        TestEnvironment.RequireTool("mke2fs");
        TestEnvironment.RequireTool("tar");
        var dir = TestEnvironment.NewTempDir("rff-sample");
        try
        {
            var project = Path.Combine(dir, "ImageToTar");
            Directory.CreateDirectory(project);
            foreach (var file in Directory.GetFiles(Path.Combine(TestEnvironment.RepoRoot, "samples", "ImageToTar")))
                File.Copy(file, Path.Combine(project, Path.GetFileName(file)));
            var (code, stdout, stderr) = TestEnvironment.Run("nice",
                ["dotnet", "build", project, "-c", "Release", "-nologo", "-v", "q", "--disable-build-servers",
                 $"-p:RootfsForgeVersion={feed.Version}", $"-p:RestoreAdditionalProjectSources={feed.Directory}"],
                timeout: TimeSpan.FromMinutes(15));
            Assert.True(code == 0, $"building the sample failed ({code}):\n{stdout}{stderr}");

            var tree = Path.Combine(dir, "tree");
            Directory.CreateDirectory(Path.Combine(tree, "etc", "ssh"));
            File.WriteAllText(Path.Combine(tree, "etc", "hostname"), "sample\n");
            File.WriteAllText(Path.Combine(tree, "etc", "ssh", "sshd_config"), "PermitRootLogin no\n");
            File.CreateSymbolicLink(Path.Combine(tree, "hostname"), "etc/hostname");
            var image = Path.Combine(dir, "small.img");
            TestEnvironment.RunChecked("mke2fs", ["-q", "-t", "ext4", "-d", tree, image, "4M"]);

            var tar = Path.Combine(dir, "out.tar");
            var dll = Path.Combine(project, "bin", "Release", "net10.0", "ImageToTar.dll");
            string summary = TestEnvironment.RunChecked("dotnet", [dll, image, tar]);
            Assert.Contains("out.tar: ", summary);

            var listed = TestEnvironment.RunChecked("tar", ["-tf", tar]).Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(n => n.TrimEnd('/')).Where(n => n is not "." and not "./lost+found").Order(StringComparer.Ordinal);
            Assert.Equal(["./etc", "./etc/hostname", "./etc/ssh", "./etc/ssh/sshd_config", "./hostname"], listed);
            Assert.Equal("PermitRootLogin no\n", TestEnvironment.RunChecked("tar", ["-xOf", tar, "./etc/ssh/sshd_config"]));
            Assert.Contains("./hostname -> etc/hostname", TestEnvironment.RunChecked("tar", ["-tvf", tar, "./hostname"]));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
