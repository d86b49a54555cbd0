using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Flist;

/// <summary>
/// A store that refuses writes mid-build ends the build with one error (exit 1) and no .fl, however many chunks are
/// still queued: the producer must not wait for room in a queue whose workers stopped after the failure.
/// </summary>
public class FlistStoreFailureTests
{
    [SkippableFact]
    public void A_full_store_fails_the_pack_promptly_and_leaves_no_output()
    {
        TestEnvironment.RequireRoot("mounts a 256 KiB tmpfs as a store that runs out of space");
        var dir = TestEnvironment.NewTempDir("rff-storefull");
        string store = Path.Combine(dir, "store"), tree = Path.Combine(dir, "tree"), output = Path.Combine(dir, "out.fl");
        Directory.CreateDirectory(store);
        Directory.CreateDirectory(tree);
        var random = new Random(7);
        // 40 files of incompressible data (~8 MB): far more chunks than the encoder's queue holds.
        for (int i = 0; i < 40; i++)
        {
            var bytes = new byte[200_000];
            random.NextBytes(bytes);
            File.WriteAllBytes(Path.Combine(tree, $"f{i:D2}"), bytes);
        }
        TestEnvironment.RunChecked("mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", store]);
        try
        {
            // Run's timeout throws if the build hangs.
            var (code, _, stderr) = TestEnvironment.Run("dotnet",
                [TestEnvironment.CliDll, "fl", "pack", tree, "-o", output, "--store", "dir://" + store, "-q"],
                timeout: TimeSpan.FromMinutes(2));
            Assert.True(code == 1, stderr);
            Assert.Contains("No space left on device", stderr);
            Assert.False(File.Exists(output), "a failed build left its .fl");
            Assert.Equal(["store", "tree"], Directory.GetFileSystemEntries(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        }
        finally
        {
            TestEnvironment.Run("umount", [store]);
            Directory.Delete(dir, recursive: true);
        }
    }
}
