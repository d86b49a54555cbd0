using RootfsForge.Tree;
using Xunit;

namespace RootfsForge.NativeTests.Tree;

/// <summary>An index filled while a copy walks the tree answers as one built by a walk of its own.</summary>
public class IndexingTreeSourceTests
{
    private sealed class ListSource(IReadOnlyList<TreeEntry> entries) : ITreeSource
    {
        public IReadOnlyList<string> Warnings => ["inner warning"];

        public async IAsyncEnumerable<TreeEntry> WalkAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            foreach (var e in entries) yield return e;
            await Task.CompletedTask;
        }
    }

    [Fact]
    public async Task IndexOfThePassingWalk_EqualsABuiltIndex()
    {
        var source = new ListSource([
            new TreeEntry { Path = "", Type = EntryType.Directory, Permissions = 0x1ED },
            new TreeEntry { Path = "bin", Type = EntryType.Directory, Permissions = 0x1ED },
            new TreeEntry { Path = "bin/busybox", Type = EntryType.RegularFile, Permissions = 0x1ED, Size = 3 },
            new TreeEntry { Path = "bin/ln", Type = EntryType.HardLink, LinkTarget = "bin/busybox" },
            new TreeEntry { Path = "bin/sh", Type = EntryType.SymbolicLink, LinkTarget = "busybox", Size = 7 },
            new TreeEntry { Path = "usr", Type = EntryType.Directory, Permissions = 0x1ED },
        ]);
        var index = new TreeIndex();
        var indexing = new IndexingTreeSource(source, index);
        var passed = new List<string>();
        await foreach (var e in indexing.WalkAsync()) passed.Add(e.Path);
        var built = await TreeIndex.BuildAsync(source);

        Assert.Equal(["", "bin", "bin/busybox", "bin/ln", "bin/sh", "usr"], passed); // handed on unchanged, in order
        Assert.Equal(["inner warning"], indexing.Warnings);
        Assert.Equal(built.Entries.Select(e => e.Path), index.Entries.Select(e => e.Path));
        Assert.Equal(built.ListDirectory("bin").Select(e => e.Path), index.ListDirectory("bin").Select(e => e.Path));
        Assert.Equal(EntryType.RegularFile, index.Exact("bin/ln")!.Type); // a hard link answers as the file it names
        Assert.Equal("bin/busybox", index.ResolvePath("bin/sh"));
    }
}
