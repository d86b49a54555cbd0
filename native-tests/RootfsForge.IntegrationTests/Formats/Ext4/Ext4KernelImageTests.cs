using RootfsForge.NativeTests.Support;
using RootfsForge.Ext4;
using Xunit;
using RootfsForge.Disks;

namespace RootfsForge.NativeTests.Ext4;

/// <summary>
/// An image written by the kernel itself (loop mount, cp -a, touch with nanoseconds and dates outside 1970–2038), read back
/// and compared with the kernel's own read-only view of it.
/// </summary>
public class Ext4KernelImageTests
{
    private static string KernelImage()
    {
        string tree = Ext4Fixtures.SourceTree("full");
        return Ext4Fixtures.KernelWritten("kernel-written-v2.img", "192M", ["-I", "256", "-O", "inline_data,metadata_csum"], mnt =>
        {
            TestEnvironment.RunChecked("cp", ["-a", tree + "/.", mnt], timeout: TimeSpan.FromMinutes(5));
            TestEnvironment.RunChecked("touch", ["-h", "-d", "2345-06-07 08:09:10.123456789 UTC", Path.Combine(mnt, "times-2345")]);
            TestEnvironment.RunChecked("touch", ["-h", "-d", "1960-03-04 05:06:07.5 UTC", Path.Combine(mnt, "times-1960")]);
            TestEnvironment.RunChecked("touch", ["-h", "-d", "2038-01-19 03:14:08.999999999 UTC", Path.Combine(mnt, "times-2038")]);
            TestEnvironment.RunChecked("touch", ["-h", "-d", "1901-12-14 00:00:00.000000001 UTC", Path.Combine(mnt, "symlinks", "fast")]);
            File.WriteAllText(Path.Combine(mnt, "written-by-kernel"), "hello from the kernel\n");
        });
    }

    [SkippableFact]
    public void KernelWrittenImageMatchesKernelView()
    {
        Ext4Fixtures.RequireImageTools();
        TestEnvironment.RequireTool("mount");
        string image = KernelImage();
        string mnt = TestEnvironment.NewTempDir("rff-mnt");
        List<System.Text.Json.JsonElement> manifest;
        var (code, _, err) = TestEnvironment.Run("mount", ["-o", "ro,loop,noload", image, mnt]);
        Skip.If(code != 0, $"cannot loop-mount: {err}");
        try
        {
            manifest = Ext4Fixtures.Manifest(mnt);
        }
        finally
        {
            TestEnvironment.RunChecked("umount", [mnt]);
            Directory.Delete(mnt);
        }
        using var device = BlockSource.OpenFile(image);
        using var fs = Ext4FileSystem.Open(device, new Ext4Options { VerifyChecksums = true });
        var entries = Ext4TreeComparer.CompareWalk(fs, manifest,
            new Ext4TreeComparer.Options(CompareTimes: true, CompareNanoseconds: true));
        var t2345 = entries.Single(e => e.Path == "times-2345").ModificationTime;
        Assert.Equal(11_847_456_550L, t2345.Seconds);
        Assert.Equal(123_456_789u, t2345.Nanoseconds);
        Assert.True(entries.Single(e => e.Path == "times-1960").ModificationTime.Seconds < 0);
    }
}
