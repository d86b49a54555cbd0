using RootfsForge.Kernel;
using RootfsForge.Lint;
using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Vm;

/// <summary>Initramfs listing against archives made by GNU cpio and the CLI compressors, concatenated like Debian's.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class InitramfsReaderTests
{
    [SkippableTheory]
    [InlineData("gzip -9 -c")]
    [InlineData("zstd -q -19 -c")]
    [InlineData("xz --check=crc32 -c")]
    [InlineData("lz4 -l -c")]
    [InlineData("bzip2 -c")]
    public void Lists_an_early_uncompressed_archive_and_a_compressed_main_archive(string compress)
    {
        TestEnvironment.RequireTool("cpio");
        TestEnvironment.RequireTool(compress.Split(' ')[0]);
        var dir = TestEnvironment.NewTempDir("rff-initrd");
        try
        {
            var early = Path.Combine(dir, "early");
            Directory.CreateDirectory(Path.Combine(early, "kernel/x86/microcode"));
            File.WriteAllBytes(Path.Combine(early, "kernel/x86/microcode/GenuineIntel.bin"), new byte[1001]);
            var main = Path.Combine(dir, "main");
            var mods = Path.Combine(main, "usr/lib/modules/6.1.0-x/kernel/fs/fuse");
            Directory.CreateDirectory(mods);
            File.WriteAllBytes(Path.Combine(mods, "virtiofs.ko"), new byte[12345]);
            File.WriteAllText(Path.Combine(main, "init"), "#!/bin/sh\n");
            var img = Path.Combine(dir, "initrd.img");
            TestEnvironment.RunChecked("sh", ["-c",
                $"cd '{early}' && find . | LC_ALL=C sort | cpio -o -H newc --quiet > '{img}' && " +
                $"cd '{main}' && find . | LC_ALL=C sort | cpio -o -H newc --quiet | {compress} >> '{img}' && " +
                // zero padding after the compressed archive, as some generators write
                $"head -c 512 /dev/zero >> '{img}'"]);
            using var s = File.OpenRead(img);
            var names = InitramfsReader.ListNames(s);
            Assert.Contains("kernel/x86/microcode/GenuineIntel.bin", names);
            Assert.Contains("usr/lib/modules/6.1.0-x/kernel/fs/fuse/virtiofs.ko", names);
            Assert.Contains("init", names);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Garbage_gives_an_ImageFormatException()
    {
        using var s = new MemoryStream("070701zzzzzzzz"u8.ToArray().Concat(new byte[200]).ToArray());
        Assert.Throws<ImageFormatException>(() => InitramfsReader.ListNames(s));
        using var s2 = new MemoryStream(new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 });
        Assert.Throws<ImageFormatException>(() => InitramfsReader.ListNames(s2));
    }
}
