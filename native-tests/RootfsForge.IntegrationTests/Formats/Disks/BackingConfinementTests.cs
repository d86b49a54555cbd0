using RootfsForge.Disks;
using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Disks;

/// <summary>
/// Backing files and external data files must lie inside the opened image's folder (symbolic links resolved) unless a
/// folder is allowed (cf. CVE-2024-32498; docs/disk-formats.md §1.7). Chains are made by qemu-img; what is
/// read where it is allowed is compared with qemu-img convert.
/// </summary>
public sealed class BackingConfinementTests
{
    /// <summary>
    /// img/ holds the overlays, outside/ the "host" files:
    /// <list type="bullet">
    /// <item>img/inside.qcow2 → base.raw (same folder), img/deep.qcow2 → sub/base2.raw, img/inlink.qcow2 → inlink.raw → base.raw;</item>
    /// <item>img/abs.qcow2 → /…/outside/secret.raw (absolute), img/dotdot.qcow2 → ../outside/secret.raw,
    /// img/escape.qcow2 → escape.raw → ../outside/secret.raw (a symlink leaving the folder);</item>
    /// <item>img/data.qcow2 with external data file ../outside/data.bin;</item>
    /// <item>img/chain.qcow2 → mid.qcow2 → /…/outside/secret.raw (the second link escapes).</item>
    /// </list>
    /// base.raw and secret.raw are ext4 filesystems holding /secret.
    /// </summary>
    internal static string Fixture() => DiskFixtures.BuildSet("backing-confinement", d =>
    {
        string img = Path.Combine(d, "img"), outside = Path.Combine(d, "outside");
        Directory.CreateDirectory(Path.Combine(img, "sub"));
        Directory.CreateDirectory(outside);
        MakeFs(Path.Combine(img, "base.raw"), "inside data\n");
        MakeFs(Path.Combine(img, "sub", "base2.raw"), "inside sub data\n");
        MakeFs(Path.Combine(outside, "secret.raw"), "host secret\n");
        File.CreateSymbolicLink(Path.Combine(img, "inlink.raw"), "base.raw");
        File.CreateSymbolicLink(Path.Combine(img, "escape.raw"), "../outside/secret.raw");
        string secret = Path.Combine(outside, "secret.raw");
        foreach (var (name, backing) in new[]
                 {
                     ("inside.qcow2", "base.raw"), ("deep.qcow2", "sub/base2.raw"), ("inlink.qcow2", "inlink.raw"),
                     ("abs.qcow2", secret), ("dotdot.qcow2", "../outside/secret.raw"), ("escape.qcow2", "escape.raw"),
                     ("mid.qcow2", secret),
                 })
            DiskFixtures.Qemu("qemu-img", ["create", "-q", "-f", "qcow2", "-u", "-b", backing, "-F", "raw", name, "8M"], img);
        DiskFixtures.Qemu("qemu-img", ["create", "-q", "-f", "qcow2", "-u", "-b", "mid.qcow2", "-F", "qcow2", "chain.qcow2", "8M"], img);
        DiskFixtures.Qemu("qemu-img", ["create", "-q", "-f", "qcow2", "-o", "data_file=../outside/data.bin", "data.qcow2", "8M"], img);
        DiskFixtures.QemuIo(Path.Combine(img, "data.qcow2"), "write -P 0x5a 0 64k");
    });

    private static void MakeFs(string path, string secret)
    {
        string src = path + ".d";
        Directory.CreateDirectory(src);
        File.WriteAllText(Path.Combine(src, "secret"), secret);
        TestEnvironment.RunChecked("mke2fs", ["-q", "-F", "-t", "ext4", "-d", src, path, "4M"]);
        Directory.Delete(src, true);
    }

    private static void RequireTools()
    {
        DiskFixtures.RequireQemu();
        TestEnvironment.RequireTool("mke2fs");
    }

    [SkippableTheory]
    [InlineData("inside.qcow2", "base.raw")]
    [InlineData("deep.qcow2", "sub/base2.raw")]
    [InlineData("inlink.qcow2", "base.raw")] // a symlink that stays inside the folder
    public void BackingInsideTheFolderIsRead(string name, string backing)
    {
        RequireTools();
        string img = Path.Combine(Fixture(), "img");
        using var disk = DiskImage.Open(Path.Combine(img, name));
        Assert.Equal(Path.Combine(img, backing), disk.Backing!.ResolvedPath);
        OracleAssert.SameBytes(disk, DiskFixtures.OracleRaw(Path.Combine(img, name)), seed: 3);
    }

    [SkippableTheory]
    [InlineData("abs.qcow2", "an absolute path outside")]
    [InlineData("dotdot.qcow2", "../ leaving the folder")]
    [InlineData("escape.qcow2", "a symlink in the folder pointing outside")]
    [InlineData("chain.qcow2", "the second image of the chain pointing outside")]
    public void BackingOutsideTheFolderIsRefused(string name, string what)
    {
        RequireTools();
        string dir = Fixture();
        var e = Assert.ThrowsAny<ImageFormatException>(() => DiskImage.Open(Path.Combine(dir, "img", name)));
        Assert.True(e.Kind == ImageErrorKind.MissingReference, $"{what}: {e.Kind}: {e.Message}");
        Assert.Equal("qcow2 backing file", e.Structure);
        Assert.Contains(Path.Combine(dir, "outside", "secret.raw"), e.Message); // names where the backing path leads
        Assert.NotNull(e.Offset); // where the name is stored in the header
    }

    [SkippableFact]
    public void ExternalDataFileOutsideTheFolderIsRefused()
    {
        RequireTools();
        string dir = Fixture();
        var e = Assert.ThrowsAny<ImageFormatException>(() => DiskImage.Open(Path.Combine(dir, "img", "data.qcow2")));
        Assert.Equal(ImageErrorKind.MissingReference, e.Kind);
        Assert.Equal("qcow2 external data file", e.Structure);
        Assert.Contains("../outside/data.bin", e.Message);
    }

    [SkippableTheory]
    [InlineData("abs.qcow2")]
    [InlineData("dotdot.qcow2")]
    [InlineData("escape.qcow2")]
    [InlineData("chain.qcow2")]
    [InlineData("data.qcow2")]
    public void AnAllowedFolderIsRead(string name)
    {
        RequireTools();
        string dir = Fixture();
        string image = Path.Combine(dir, "img", name);
        using var disk = DiskImage.Open(image,
            new DiskImageOptions { AllowedBackingDirectories = [Path.Combine(dir, "outside")] });
        OracleAssert.SameBytes(disk, DiskFixtures.OracleRaw(image), seed: 4);
    }

    [SkippableFact]
    public void AnAllowedFolderThatDoesNotExistIsTheCallersMistake()
    {
        RequireTools();
        string image = Path.Combine(Fixture(), "img", "inside.qcow2");
        Assert.Throws<ArgumentException>(() =>
            DiskImage.Open(image, new DiskImageOptions { AllowedBackingDirectories = ["/nonexistent-rootfsforge-dir"] }));
    }

    [SkippableFact]
    public void MissingBackingFileIsAMissingReference()
    {
        RequireTools();
        string dir = TestEnvironment.NewTempDir("rff-backing");
        try
        {
            DiskFixtures.Qemu("qemu-img", ["create", "-q", "-f", "qcow2", "-u", "-b", "gone.raw", "-F", "raw", "ov.qcow2", "1M"], dir);
            var e = Assert.ThrowsAny<ImageFormatException>(() => DiskImage.Open(Path.Combine(dir, "ov.qcow2")));
            Assert.Equal(ImageErrorKind.MissingReference, e.Kind);
            Assert.Equal("qcow2 backing file", e.Structure);
            Assert.Contains("gone.raw", e.Message);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
