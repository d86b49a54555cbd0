using RootfsForge.Boot;
using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Vm;

/// <summary>
/// SLOW (TCG: login prompt after 187 s on an idle 2-core machine; 647 s to the cloud-init marker at load 30): boots the shared build's tree like ZOS (its own kernel and
/// initrd, virtio-fs root tag vroot, ZOS's command line, a cidata disk) and waits for a login prompt or the cloud-init
/// marker. Runs only with ROOTFSFORGE_BOOT_TEST=1, which tools/test.sh (the README's test command) sets by default.
/// </summary>
[Collection(PreparedDebianCollection.Name)]
[Trait("Category", "Slow")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class BootTests(PreparedDebianFixture build)
{
    [SkippableFact]
    public async Task Prepared_tree_boots_to_login_or_cloud_init_marker()
    {
        Skip.IfNot(Environment.GetEnvironmentVariable("ROOTFSFORGE_BOOT_TEST") == "1",
            "slow qemu TCG boot (several minutes): set ROOTFSFORGE_BOOT_TEST=1 (tools/test.sh does) to run it");
        TestEnvironment.RequireTool("qemu-system-x86_64");
        TestEnvironment.RequireTool("mkfs.vfat");
        TestEnvironment.RequireTool("mcopy");
        Skip.IfNot(File.Exists("/usr/lib/qemu/virtiofsd"), "needs /usr/lib/qemu/virtiofsd (Debian qemu-system-x86)");
        build.Require();
        var log = Path.Combine(build.Dir, "console.log");
        var machineIdBefore = File.ReadAllBytes(Path.Combine(build.Tree, "etc/machine-id"));
        var result = await BootTest.RunAsync(build.Tree, new BootTestOptions { Timeout = TimeSpan.FromSeconds(1500), ConsoleLog = log });
        Assert.True(result.Success, $"{result.Reason}\n{string.Join('\n', File.ReadLines(log).TakeLast(30))}");
        var console = File.ReadAllText(log);
        Assert.Contains("root=vroot rootfstype=virtiofs", console);
        // The guest wrote into an overlay: the built tree is unchanged, nothing is left running or mounted.
        Assert.Equal(machineIdBefore, File.ReadAllBytes(Path.Combine(build.Tree, "etc/machine-id")));
        Assert.DoesNotContain(Steps.MountTable.MountsUnder(Path.GetTempPath()), m => m.Contains("rootfsforge-boot"));
    }
}
