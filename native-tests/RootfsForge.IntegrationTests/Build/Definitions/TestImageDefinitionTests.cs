using RootfsForge.Definitions;
using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Definitions;

/// <summary>
/// Issue 11 §5: the test/benchmark image is a definition (images/debian12-cloud.yaml), and tools/make-debian-image.sh
/// bootstraps exactly the source that definition names — read by the script with python3-yaml, compared here with the
/// build layer's own loader.
/// </summary>
public class TestImageDefinitionTests
{
    [SkippableFact]
    public void MakeDebianImage_BootstrapsTheDefinitionsSource()
    {
        TestEnvironment.RequireTool("python3");
        var definition = DefinitionLoader.Load(Path.Combine(TestEnvironment.RepoRoot, "images", "debian12-cloud.yaml"));
        Assert.Equal(ImageKind.Vm, definition.Kind);
        var source = Assert.IsType<BootstrapSource>(definition.From);
        Assert.False(File.Exists(Path.Combine(TestEnvironment.RepoRoot, "images", "debian12-cloud.conf")), "the shell-sourced duplicate is gone");

        var printed = TestEnvironment.RunChecked("bash", [Path.Combine(TestEnvironment.RepoRoot, "tools", "make-debian-image.sh"), "--print-source"])
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        Assert.Equal(source.Suite, printed["SUITE"]);
        Assert.Equal(source.Variant, printed["VARIANT"]);
        Assert.Equal(source.Include, printed["INCLUDE"].Split(','));
        if (Environment.GetEnvironmentVariable("DEBIAN_MIRROR") is null) Assert.Equal(source.Mirror, printed["MIRROR"]);
        // The kernel and cloud-init the VM tests and lint expect are part of it.
        Assert.Contains("linux-image-amd64", source.Include);
        Assert.Contains("cloud-init", source.Include);
    }
}
