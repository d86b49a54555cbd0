using RootfsForge.Disks;
using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Disks;

/// <summary>
/// Only regular files and block devices are images (docs/disk-formats.md §1.7): a FIFO as the image, a backing file or
/// an external data file is refused at once with kind NotAnImage instead of blocking in open(2); a block device is read
/// like the file it shows (its length from the device, not the 0 that fstat reports).
/// </summary>
public sealed class SpecialFileTests
{
    /// <summary>Runs <paramref name="open"/> with a deadline: a blocking open fails the test instead of hanging it.</summary>
    private static ImageFormatException RefusedPromptly(Func<DiskImage> open)
    {
        var run = Task.Run<Exception?>(() =>
        {
            try
            {
                open().Dispose();
                return null;
            }
            catch (Exception e)
            {
                return e;
            }
        });
        Assert.True(run.Wait(TimeSpan.FromSeconds(10)), "opening blocked");
        var e = Assert.IsType<ImageFormatException>(run.Result, exactMatch: false);
        return e;
    }

    private static void MakeFifo(string path) => TestEnvironment.RunChecked("mkfifo", [path]);

    [SkippableFact]
    public void FifoAsImageIsNotAnImage()
    {
        TestEnvironment.RequireTool("mkfifo");
        string dir = TestEnvironment.NewTempDir("rff-special");
        try
        {
            string fifo = Path.Combine(dir, "fifo");
            MakeFifo(fifo);
            var e = RefusedPromptly(() => DiskImage.Open(fifo));
            Assert.Equal(ImageErrorKind.NotAnImage, e.Kind);
            Assert.Equal("disk image", e.Structure);
            Assert.Contains("FIFO", e.Message);
            e = RefusedPromptly(() => RawDiskImage.OpenRaw(fifo));
            Assert.Equal(ImageErrorKind.NotAnImage, e.Kind);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [SkippableFact]
    public void FifoAsBackingFileIsNotAnImage()
    {
        DiskFixtures.RequireQemu();
        TestEnvironment.RequireTool("mkfifo");
        string dir = TestEnvironment.NewTempDir("rff-special");
        try
        {
            string fifo = Path.Combine(dir, "fifo");
            MakeFifo(fifo);
            // The reproduction: qemu-img create -u -b $PWD/fifo -F raw ov.qcow2 8M.
            DiskFixtures.Qemu("qemu-img", ["create", "-q", "-f", "qcow2", "-u", "-b", fifo, "-F", "raw", "ov.qcow2", "8M"], dir);
            var e = RefusedPromptly(() => DiskImage.Open(Path.Combine(dir, "ov.qcow2")));
            Assert.Equal(ImageErrorKind.NotAnImage, e.Kind);
            Assert.Equal("qcow2 backing file", e.Structure);
            Assert.Equal(fifo, e.ImagePath);
            // Without the backing format the backing file is probed: still no blocking open.
            DiskFixtures.Qemu("qemu-img", ["create", "-q", "-f", "qcow2", "-u", "-b", "fifo", "-F", "raw", "ov2.qcow2", "8M"], dir);
            e = RefusedPromptly(() => DiskImage.Open(Path.Combine(dir, "ov2.qcow2")));
            Assert.Equal(ImageErrorKind.NotAnImage, e.Kind);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [SkippableFact]
    public void FifoAsExternalDataFileIsNotAnImage()
    {
        DiskFixtures.RequireQemu();
        TestEnvironment.RequireTool("mkfifo");
        string dir = TestEnvironment.NewTempDir("rff-special");
        try
        {
            DiskFixtures.Qemu("qemu-img", ["create", "-q", "-f", "qcow2", "-o", "data_file=data.bin", "img.qcow2", "8M"], dir);
            File.Delete(Path.Combine(dir, "data.bin"));
            MakeFifo(Path.Combine(dir, "data.bin"));
            var e = RefusedPromptly(() => DiskImage.Open(Path.Combine(dir, "img.qcow2")));
            Assert.Equal(ImageErrorKind.NotAnImage, e.Kind);
            Assert.Equal("qcow2 external data file", e.Structure);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [SkippableFact]
    public void DirectoryAndCharacterDeviceAreNotImages()
    {
        string dir = TestEnvironment.NewTempDir("rff-special");
        try
        {
            var e = RefusedPromptly(() => DiskImage.Open(dir));
            Assert.Equal(ImageErrorKind.NotAnImage, e.Kind);
            Assert.Contains("directory", e.Message);
            Skip.IfNot(File.Exists("/dev/zero"), "no /dev/zero");
            e = RefusedPromptly(() => DiskImage.Open("/dev/zero"));
            Assert.Equal(ImageErrorKind.NotAnImage, e.Kind);
            Assert.Contains("character device", e.Message);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [SkippableFact]
    public void BlockDeviceIsReadLikeItsFile()
    {
        TestEnvironment.RequireRoot("losetup");
        TestEnvironment.RequireTool("losetup");
        string raw = DiskFixtures.SourceRaw;
        var (code, stdout, stderr) = TestEnvironment.Run("losetup", ["--find", "--show", "--read-only", raw]);
        Skip.If(code != 0, $"losetup failed: {stderr}");
        string device = stdout.Trim();
        try
        {
            using var disk = DiskImage.Open(device);
            Assert.Equal("raw", disk.Format);
            // A loop device rounds down to 512-byte sectors.
            Assert.Equal(new FileInfo(raw).Length & ~511L, disk.Length);
            var expected = new byte[disk.Length];
            using (var f = File.OpenRead(raw)) f.ReadExactly(expected);
            var actual = new byte[disk.Length];
            disk.ReadExactlyAt(0, actual);
            Assert.True(expected.AsSpan().SequenceEqual(actual), "the device reads like its backing file");
        }
        finally
        {
            TestEnvironment.Run("losetup", ["-d", device]);
        }
    }
}
