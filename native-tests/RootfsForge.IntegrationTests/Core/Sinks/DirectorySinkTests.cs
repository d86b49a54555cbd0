using RootfsForge.NativeTests.Support;
using RootfsForge.Sinks;
using RootfsForge.Sinks.Directories;
using RootfsForge.Sources.Directories;
using RootfsForge.Tree;
using Xunit;

namespace RootfsForge.NativeTests.Sinks;

public class DirectorySinkTests : TempDirectories
{
    private static void Write(TreeSink sink, IEnumerable<TreeEntry> entries)
    {
        foreach (var e in entries) sink.Add(e);
        sink.Complete();
    }

    [SkippableFact]
    public async Task AsRootRestoresEveryField()
    {
        TestEnvironment.RequireRoot("owners, device nodes and security.capability");
        TestEnvironment.RequireTool("getcap");
        TestEnvironment.RequireTool("getfacl");
        var parent = Temp();
        var target = Path.Combine(parent, "out");
        var tree = SampleTrees.Full(withDevices: true, withSocket: true);
        await using (var sink = SinkFactory.Create(target)) Write(sink, tree);
        // Atimes are restored too (checked first: reading the files below updates them under relatime).
        Assert.Equal("1600000000", TestEnvironment.RunChecked("stat", ["-c", "%X", Path.Combine(target, "etc", "passwd")]).Trim());
        // The oracle: Python's lstat/getxattr of what landed on disk; then our own DirectorySource, then getfattr/stat.
        TreeDump.AssertSame(TreeDump.OfEntries(tree), TreeDump.OfDirectory(target));
        TreeDump.AssertSame(TreeDump.OfEntries(tree), TreeDump.OfEntries(new DirectorySource(target).Walk()));
        var caps = TestEnvironment.RunChecked("getcap", [Path.Combine(target, "caps")]);
        Assert.Contains("cap_net_raw=ep", caps);
        var acl = TestEnvironment.RunChecked("getfacl", ["-n", Path.Combine(target, "etc", "acl-file")]);
        Assert.Contains("user:8:r--", acl);
        Assert.Equal("4093,0 c", TestEnvironment.RunChecked("stat", ["-c", "%Hr,%Lr %A", Path.Combine(target, "dev-big-major")]).Trim()[..8]);
        Assert.Single(Directory.GetFileSystemEntries(parent)); // no temporary directory left
    }

    [SkippableFact]
    public async Task UnprivilegedModeSkipsDevicesAndOwnersAndCountsThem()
    {
        var parent = Temp();
        var target = Path.Combine(parent, "out");
        var tree = SampleTrees.Full(withDevices: true).Where(e => e.Path != "caps" && !e.Path.StartsWith("f-big")).ToList();
        await using var sink = new DirectorySink(target, new DirectorySinkOptions { Privileged = false });
        Write(sink, tree);
        Assert.Equal(2, sink.SkippedDevices);
        Assert.True(sink.SkippedOwners > 0);
        Assert.Contains(sink.Statistics.Warnings, w => w.Contains("device nodes"));
        Assert.False(File.Exists(Path.Combine(target, "dev-big-major")));
        var expected = TreeDump.OfEntries(tree, include: e => e.Type is not (EntryType.CharacterDevice or EntryType.BlockDevice));
        // Owners are those of the writing user here; compare everything else.
        static string[] NoOwners(string[] lines) => lines.Select(l =>
        {
            var f = l.Split('\t');
            if (f.Length > 4) f[3] = f[4] = "-";
            return string.Join('\t', f);
        }).ToArray();
        TreeDump.AssertSame(NoOwners(expected), NoOwners(TreeDump.OfDirectory(target)));
    }

    [SkippableFact]
    public async Task RoundTripsARealDirectoryThroughDirectorySource()
    {
        TestEnvironment.RequireRoot("device nodes and owners");
        TestEnvironment.RequireTool("setfattr");
        var src = Track(SourceTests.MakeRealDirectory(withDevices: true));
        var target = Path.Combine(Temp(), "copy");
        await using (var sink = new DirectorySink(target)) Write(sink, new DirectorySource(src).Walk());
        TreeDump.AssertSame(TreeDump.OfDirectory(src), TreeDump.OfDirectory(target));
        // Holes stay holes.
        var blocks = TestEnvironment.RunChecked("stat", ["-c", "%b", Path.Combine(target, "sparse.img")]).Trim();
        Assert.True(long.Parse(blocks) < 2048, $"sparse.img uses {blocks} blocks");
    }

    public static TheoryData<string> HostileCases => ["symlink-abs", "symlink-up", "dotdot", "absolute", "hardlink-up", "hardlink-via-symlink", "dot"];

    [Theory]
    [MemberData(nameof(HostileCases))]
    public async Task HostileTreesNeverWriteOutsideTheTarget(string kind)
    {
        var parent = Temp();
        var canary = Path.Combine(parent, "canary");
        Directory.CreateDirectory(canary);
        File.WriteAllText(Path.Combine(canary, "passwd"), "original");
        var work = Path.Combine(parent, "work");
        Directory.CreateDirectory(work);
        var target = Path.Combine(work, "a", "b", "out");
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        var tree = new List<TreeEntry> { SampleTrees.Dir("") };
        switch (kind)
        {
            case "symlink-abs":
                tree.Add(SampleTrees.Symlink("etc", canary));
                tree.Add(SampleTrees.File("etc/passwd", "pwned"u8.ToArray()));
                break;
            case "symlink-up":
                tree.Add(SampleTrees.Symlink("a", "../../../../canary"));
                tree.Add(SampleTrees.File("a/x", "pwned"u8.ToArray()));
                break;
            case "dotdot":
                tree.Add(SampleTrees.File("../x", "pwned"u8.ToArray()));
                break;
            case "absolute":
                tree.Add(SampleTrees.File(Path.Combine(canary, "y")[1..].Insert(0, "/"), "pwned"u8.ToArray()));
                break;
            case "hardlink-up":
                tree.Add(SampleTrees.HardLink("h", "../../../../canary/passwd"));
                break;
            case "hardlink-via-symlink":
                tree.Add(SampleTrees.Symlink("lnk", canary));
                tree.Add(SampleTrees.HardLink("h", "lnk/passwd"));
                break;
            case "dot":
                tree.Add(SampleTrees.Dir("d"));
                tree.Add(SampleTrees.File("d/./../../x", "pwned"u8.ToArray()));
                break;
        }
        var ex = await Assert.ThrowsAsync<ImageFormatException>(async () =>
        {
            await using var sink = new DirectorySink(target);
            Write(sink, tree);
        });
        Assert.Equal((ImageErrorKind.InvalidName, "tree entry"), (ex.Kind, ex.Structure));
        Assert.Equal(["passwd"], Directory.GetFileSystemEntries(canary).Select(Path.GetFileName));
        Assert.Equal("original", File.ReadAllText(Path.Combine(canary, "passwd")));
        Assert.Equal(1, new FileInfo(Path.Combine(canary, "passwd")).LinkTarget is null ? 1 : 0);
        Assert.Equal(["a"], Directory.GetFileSystemEntries(work).Select(Path.GetFileName));
        Assert.Empty(Directory.GetFileSystemEntries(Path.GetDirectoryName(target)!)); // no output, no temporary dir
        Assert.Equal(1, LinkCount(Path.Combine(canary, "passwd")));
    }

    private static int LinkCount(string path) =>
        int.Parse(TestEnvironment.RunChecked("stat", ["-c", "%h", path]).Trim());

    [Fact]
    public async Task FailingSourceLeavesNoOutput()
    {
        var parent = Temp();
        var target = Path.Combine(parent, "out");
        await Assert.ThrowsAsync<ImageFormatException>(async () =>
        {
            await using var sink = SinkFactory.Create(target);
            sink.Add(SampleTrees.Dir(""));
            sink.Add(SampleTrees.Dir("d"));
            sink.Add(SampleTrees.File("d/ok", new byte[10]));
            sink.Add(SampleTrees.Content("d/z", () => new FailingContent(4 << 20, 2 << 20), 4 << 20));
            sink.Complete();
        });
        Assert.Empty(Directory.GetFileSystemEntries(parent));

        // Writing into an existing empty directory: it stays, empty.
        Directory.CreateDirectory(target);
        await Assert.ThrowsAsync<ImageFormatException>(async () =>
        {
            await using var sink = new DirectorySink(target);
            sink.Add(SampleTrees.Dir(""));
            sink.Add(SampleTrees.File("ok", new byte[10]));
            sink.Add(SampleTrees.Content("z", () => new FailingContent(4 << 20, 2 << 20), 4 << 20));
            sink.Complete();
        });
        Assert.Empty(Directory.GetFileSystemEntries(target));
    }

    [Fact]
    public async Task EmptySymlinksAndHardLinksToThemAreSkippedAndTheRestIsWritten()
    {
        var parent = Temp();
        var target = Path.Combine(parent, "out");
        var tree = new List<TreeEntry>
        {
            SampleTrees.Dir(""), SampleTrees.Dir("d"), SampleTrees.Symlink("d/empty", ""), SampleTrees.HardLink("d/hard", "d/empty"),
            SampleTrees.Symlink("d/ok", "target"), SampleTrees.File("z-after", [1, 2]),
        };
        await using var sink = new DirectorySink(target);
        Write(sink, tree);
        Assert.Equal(2, sink.SkippedEntries);
        Assert.Equal(4, sink.Statistics.Entries); // the root, d, d/ok, z-after
        Assert.Contains(sink.Statistics.Warnings, w => w.Contains("'d/empty'") && w.Contains("symlink with empty target skipped"));
        Assert.Contains(sink.Statistics.Warnings, w => w.Contains("'d/hard'") && w.Contains("'d/empty'"));
        Assert.Equal(["ok"], Directory.GetFileSystemEntries(Path.Combine(target, "d")).Select(Path.GetFileName));
        Assert.Equal("target", new FileInfo(Path.Combine(target, "d", "ok")).LinkTarget);
        Assert.Equal([1, 2], File.ReadAllBytes(Path.Combine(target, "z-after")));
    }

    [Fact]
    public async Task RefusesANonEmptyTarget()
    {
        var target = Temp();
        File.WriteAllText(Path.Combine(target, "existing"), "x");
        var ex = Assert.Throws<IOException>(() => new DirectorySink(target));
        Assert.Contains("not empty", ex.Message);
        await using var sink = new DirectorySink(target, new DirectorySinkOptions { AllowNonEmptyTarget = true, Privileged = false });
        Write(sink, [SampleTrees.Dir(""), SampleTrees.File("new", "n"u8.ToArray())]);
        Assert.Equal("x", File.ReadAllText(Path.Combine(target, "existing")));
        Assert.Equal("n", File.ReadAllText(Path.Combine(target, "new")));
    }

    /// <summary>
    /// ReplaceExisting: the old output (a non-empty directory or a file) stays untouched by a run that fails or is
    /// cancelled while completing, and is replaced only by a completed one; no temporary sibling is left either way.
    /// </summary>
    [Fact]
    public async Task ReplaceExistingSwapsOnlyWhenComplete()
    {
        var parent = Temp();
        var target = Path.Combine(parent, "out");
        Directory.CreateDirectory(target);
        File.WriteAllText(Path.Combine(target, "old"), "o");
        var replace = new DirectorySinkOptions { ReplaceExisting = true, Privileged = false };
        Assert.Throws<IOException>(() => new DirectorySink(target));

        await Assert.ThrowsAsync<ImageFormatException>(async () =>
        {
            await using var sink = new DirectorySink(target, replace);
            sink.Add(SampleTrees.Dir(""));
            sink.Add(SampleTrees.Content("z", () => new FailingContent(4 << 20, 2 << 20), 4 << 20));
            sink.Complete();
        });
        using (var cancelled = new CancellationTokenSource())
        {
            await cancelled.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
            {
                await using var sink = new DirectorySink(target, replace);
                sink.Add(SampleTrees.Dir(""));
                sink.Add(SampleTrees.File("new", "n"u8.ToArray()));
                await sink.CompleteAsync(cancelled.Token);
            });
        }
        Assert.Equal(["old"], Directory.GetFileSystemEntries(target).Select(Path.GetFileName));
        Assert.Equal(["out"], Directory.GetFileSystemEntries(parent).Select(Path.GetFileName));

        await using (var sink = new DirectorySink(target, replace)) Write(sink, [SampleTrees.Dir(""), SampleTrees.File("new", "n"u8.ToArray())]);
        Assert.Equal(["new"], Directory.GetFileSystemEntries(target).Select(Path.GetFileName));
        Assert.Equal(["out"], Directory.GetFileSystemEntries(parent).Select(Path.GetFileName));

        // A file in the way is replaced by the directory.
        var fileTarget = Path.Combine(parent, "was-a-file");
        File.WriteAllText(fileTarget, "f");
        await using (var sink = new DirectorySink(fileTarget, replace)) Write(sink, [SampleTrees.Dir(""), SampleTrees.File("x", [1])]);
        Assert.Equal([1], File.ReadAllBytes(Path.Combine(fileTarget, "x")));
        Assert.Equal(["out", "was-a-file"], Directory.GetFileSystemEntries(parent).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    /// <summary>A name that is not UTF-8 and one with a newline are created as exactly those bytes (Python lists them).</summary>
    [SkippableFact]
    public async Task NamesAreWrittenAsTheirBytes()
    {
        TestEnvironment.RequireTool("python3");
        var target = Path.Combine(Temp(), "out");
        string odd = FileNameEncoding.GetString([0x6e, 0xff, 0xfe]), newline = "a\nb";
        await using (var sink = new DirectorySink(target, new DirectorySinkOptions { Privileged = false }))
            Write(sink, [SampleTrees.Dir(""), SampleTrees.Dir(odd), SampleTrees.File(odd + "/" + newline, [7]), SampleTrees.Symlink("l", odd)]);
        var listing = TestEnvironment.RunChecked("python3", ["-c",
            "import os,sys; r=os.fsencode(sys.argv[1]); print(sorted(n.hex() for n in os.listdir(r)), sorted(n.hex() for n in os.listdir(os.path.join(r, b'n\\xff\\xfe'))), os.readlink(os.path.join(r, b'l')).hex())",
            target]).Trim();
        Assert.Equal("['6c', '6efffe'] ['610a62'] 6efffe", listing);
    }
}
