using RootfsForge.NativeTests.Ext4;
using RootfsForge.NativeTests.Support;
using RootfsForge.Sinks.Directories;
using RootfsForge.Ext4;
using RootfsForge.Tree;
using Xunit;
using Xunit.Abstractions;
using RootfsForge.Disks;

namespace RootfsForge.NativeTests.Sinks;

/// <summary>
/// The e2fsprogs corpus images (native-tests/data/e2fsprogs) that broke directory extraction: corrupt symlinks whose target
/// is empty (or starts with NUL) and xattr values larger than the target filesystem holds. The oracle is Python's
/// lstat/readlink/getxattr of what landed on disk, compared with the walk of the image.
/// </summary>
public class DirectorySinkCorpusTests(ITestOutputHelper output) : TempDirectories
{
    /// <summary>The target as the kernel stores it: a C string, so it ends at the first NUL.</summary>
    private static string KernelTarget(string target)
    {
        int nul = target.IndexOf('\0');
        return nul < 0 ? target : target[..nul];
    }

    [SkippableTheory]
    [InlineData("f_badsymlinks")]
    [InlineData("f_badsymlinks2")]
    public async Task EmptySymlinksAreSkippedWithAWarningAndTheRestIsExtracted(string test)
    {
        TestEnvironment.RequireRoot("owners of the corpus entries (root-owned) and the comparison of owners");
        string image = Ext4CorpusTests.Decompressed(test, "image.gz");
        using var device = BlockSource.OpenFile(image);
        using var fs = Ext4FileSystem.Open(device);
        var entries = fs.Walk().ToList();
        var links = entries.Where(e => e.Type == EntryType.SymbolicLink).ToList();
        foreach (var e in links)
            output.WriteLine($"{e.Path}: {FileNameEncoding.GetBytes(e.LinkTarget!).Length} bytes, {FileNameEncoding.GetBytes(KernelTarget(e.LinkTarget!)).Length} before NUL");

        var empty = links.Where(e => KernelTarget(e.LinkTarget!).Length == 0).Select(e => e.Path).ToHashSet(StringComparer.Ordinal);
        // symlink(2) takes at most PATH_MAX - 1 = 4095 bytes (ext4 targets: block size - 1, also 4095 with 4 KiB blocks).
        var tooLong = links.Where(e => FileNameEncoding.GetBytes(KernelTarget(e.LinkTarget!)).Length >= 4096)
            .Select(e => e.Path).ToHashSet(StringComparer.Ordinal);
        var cut = links.Where(e => KernelTarget(e.LinkTarget!).Length is > 0 and < 4096 && e.LinkTarget!.Contains('\0'))
            .Select(e => e.Path).ToList();
        // e2fsck's expect.1 reports invalid (empty) symlinks in both images; the walk must show them to make this a test.
        Assert.NotEmpty(empty);

        var target = Path.Combine(Temp(), "out");
        await using var sink = new DirectorySink(target);
        foreach (var e in entries) sink.Add(e);
        sink.Complete();
        foreach (var w in sink.Statistics.Warnings) output.WriteLine("warning: " + w);

        foreach (var p in empty.Concat(tooLong))
        {
            string why = empty.Contains(p) ? "empty target" : "too long";
            Assert.Contains(sink.Statistics.Warnings, w => w.Contains($"'{p}'") && w.Contains(why));
            Assert.False(new FileInfo(Path.Combine(target, p)).LinkTarget is not null || Path.Exists(Path.Combine(target, p)),
                $"{p} was created");
        }
        foreach (var p in cut) Assert.Contains(sink.Statistics.Warnings, w => w.Contains($"'{p}'") && w.Contains("first NUL"));
        Assert.Equal(empty.Count + tooLong.Count, sink.SkippedEntries);

        // Everything else is on disk as the kernel would show it (symlink targets end at the first NUL).
        var expected = entries.Where(e => !empty.Contains(e.Path) && !tooLong.Contains(e.Path)).Select(e => e.Type == EntryType.SymbolicLink
            ? new TreeEntry
            {
                Path = e.Path, Type = e.Type, Permissions = e.Permissions, Uid = e.Uid, Gid = e.Gid,
                ModificationTime = e.ModificationTime, LinkTarget = KernelTarget(e.LinkTarget!),
                ExtendedAttributes = e.ExtendedAttributes,
            }
            : e);
        string[] want = TreeDump.OfEntries(expected).Order(StringComparer.Ordinal).ToArray();
        string[] got = TreeDump.OfDirectory(target).Order(StringComparer.Ordinal).ToArray();
        TreeDump.AssertSame(want, got);
    }
}
