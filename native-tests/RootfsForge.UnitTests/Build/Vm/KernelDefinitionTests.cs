using RootfsForge.NativeTests.Support;
using RootfsForge.Steps;
using Xunit;

namespace RootfsForge.NativeTests.Vm;

/// <summary>kernels/*.yaml: YAML as YAML (quotes, comments), and every mistake named with file:line:column.</summary>
public class KernelDefinitionTests
{
    [Fact]
    public void The_embedded_definitions_are_the_repository_files()
    {
        var files = Directory.GetFiles(Path.Combine(TestEnvironment.RepoRoot, "kernels"), "*.yaml").Select(Path.GetFileNameWithoutExtension).Order();
        Assert.Equal(files, KernelDefinition.Embedded.Select(d => d.Family).Order());
        var debian = KernelDefinition.Embedded.Single(d => d.Family == "debian");
        Assert.Equal(("linux-image-amd64", InitramfsTool.InitramfsTools, true), (debian.Package, debian.Initramfs, debian.Verified));
        Assert.Equal(["debian"], debian.Ids);
        Assert.Equal(["fedora", "rhel", "centos", "rocky", "almalinux"], KernelDefinition.Embedded.Single(d => d.Family == "fedora").Ids);
    }

    [Fact]
    public void Quoted_values_and_trailing_comments_are_read_as_YAML()
    {
        var d = KernelDefinition.Parse("""
            # a comment line
            family: "my-distro"   # trailing comment
            ids: ['mine', "other"] # ids
            package: 'linux-image-#1'
            initramfs: dracut #comment
            verified: true # yes
            """, "x.yaml");
        Assert.Equal("my-distro", d.Family);
        Assert.Equal(["mine", "other"], d.Ids);
        Assert.Equal("linux-image-#1", d.Package);
        Assert.Equal(InitramfsTool.Dracut, d.Initramfs);
        Assert.True(d.Verified);
        // Block-style lists and the family default (the file name).
        var e = KernelDefinition.Parse("ids:\n  - a\n  - b\npackage: k\ninitramfs: mkinitfs\n", "/some/dir/fam.yaml");
        Assert.Equal("fam", e.Family);
        Assert.Equal(["a", "b"], e.Ids);
        Assert.False(e.Verified);
    }

    [Theory]
    [InlineData("ids: [a]\npackage: k\ninitramfs: dracut\nflavour: x\n", 4, 1, "unknown key 'flavour'")]
    [InlineData("ids: [a]\npackage: k\ninitramfs: dracut\nverified: maybe\n", 4, 11, "'verified' must be true or false")]
    [InlineData("ids: [a]\npackage: k\ninitramfs: dracut\nverified: \"true\"\n", 4, 11, "'verified' must be true or false")]
    [InlineData("ids: debian\npackage: k\ninitramfs: dracut\n", 1, 6, "'ids' must be a non-empty list")]
    [InlineData("ids: [a]\npackage: [k]\ninitramfs: dracut\n", 2, 10, "'package' must be a non-empty string")]
    [InlineData("ids: [a]\npackage: k\ninitramfs: genkernel\n", 3, 12, "'initramfs' must be initramfs-tools, dracut or mkinitfs")]
    [InlineData("ids: [a]\ninitramfs: dracut\n", 1, 1, "missing 'package'")]
    [InlineData("ids: [a]\npackage: k\npackage: l\ninitramfs: dracut\n", 3, 1, "Duplicate key")]
    [InlineData("ids: [a\npackage: k\n", 1, 6, "malformed YAML")]
    [InlineData("- a\n- b\n", 1, 1, "expected a mapping")]
    public void Mistakes_name_file_line_and_column(string text, int line, int column, string reason)
    {
        var e = Assert.Throws<DefinitionFormatException>(() => KernelDefinition.Parse(text, "kernels/bad.yaml"));
        Assert.Equal("kernels/bad.yaml", e.File);
        Assert.Equal((line, column), ((int)e.Line, (int)e.Column));
        Assert.Contains(reason, e.Reason);
        Assert.StartsWith($"kernels/bad.yaml:{line}:{column}: ", e.Message);
    }

    [Fact]
    public void A_folder_overrides_the_embedded_family_and_adds_new_ones()
    {
        var dir = TestEnvironment.NewTempDir("rff-kernels");
        try
        {
            File.WriteAllText(Path.Combine(dir, "debian.yaml"), "ids: [debian]\npackage: linux-image-cloud-amd64\ninitramfs: initramfs-tools\nverified: true\n");
            File.WriteAllText(Path.Combine(dir, "mine.yaml"), "ids: [mine, ubuntu]\npackage: mine-kernel\ninitramfs: dracut\n");
            File.WriteAllText(Path.Combine(dir, "notes.txt"), "not a definition");
            var all = KernelDefinition.LoadWithOverrides(dir);
            Assert.Equal("linux-image-cloud-amd64", Assert.Single(all, d => d.Family == "debian").Package);
            Assert.Equal(KernelDefinition.Embedded.Count + 1, all.Count);
            // The folder's definitions are matched first: "mine" claims ubuntu before the embedded ubuntu definition.
            Assert.Equal("mine", KernelDefinition.ForOsRelease("ID=ubuntu\nID_LIKE=debian\n", all)!.Family);
            Assert.Equal("ubuntu", KernelDefinition.ForOsRelease("ID=ubuntu\nID_LIKE=debian\n", KernelDefinition.Embedded)!.Family);
            Assert.Equal("fedora", KernelDefinition.ForOsRelease("ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n", all)!.Family);
            Assert.Null(KernelDefinition.ForOsRelease("ID=plan9\n", all));

            File.WriteAllText(Path.Combine(dir, "zz.yaml"), "family: mine\nids: [x]\npackage: k\ninitramfs: dracut\n");
            var e = Assert.Throws<DefinitionFormatException>(() => KernelDefinition.LoadWithOverrides(dir));
            Assert.Contains("also defined by", e.Reason);
            File.WriteAllText(Path.Combine(dir, "zz.yaml"), "ids: [x]\npackage: k\ninitramfs: dracut\nverified: 1\n");
            e = Assert.Throws<DefinitionFormatException>(() => KernelDefinition.LoadWithOverrides(dir));
            Assert.Equal(Path.Combine(dir, "zz.yaml"), e.File);
            Assert.Equal(4, e.Line);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
