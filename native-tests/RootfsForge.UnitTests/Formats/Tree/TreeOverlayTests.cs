using RootfsForge.Tree;
using Xunit;

namespace RootfsForge.NativeTests.Tree;

/// <summary>Files added at a tree's root land where a walk of a tree holding them would put them.</summary>
public class TreeOverlayTests
{
    private sealed class ListSource(IReadOnlyList<TreeEntry> entries) : ITreeSource
    {
        public IReadOnlyList<string> Warnings => [];

        public async IAsyncEnumerable<TreeEntry> WalkAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            foreach (var e in entries) yield return e;
            await Task.CompletedTask;
        }
    }

    private static TreeEntry Dir(string p) => new() { Path = p, Type = EntryType.Directory, Permissions = 0x1ED };

    private static TreeEntry File(string p, string text) => new()
    {
        Path = p, Type = EntryType.RegularFile, Permissions = 0x1A4, Size = text.Length,
        OpenContent = () => FileContent.FromBytes(System.Text.Encoding.UTF8.GetBytes(text)),
    };

    private static List<string> Paths(ITreeSource s) => s.WalkAsync().ToBlockingEnumerable().Select(e => e.Path).ToList();

    [Fact]
    public void AdditionsAreMergedInWalkOrder_AndReplaceSameNamedSubtrees()
    {
        var tree = new ListSource([Dir(""), Dir("-dash"), File("-dash/x", "1"), Dir(".startup.toml"), File(".startup.toml/old", "2"),
            Dir("bin"), File("bin/sh", "3"), File("zz", "4")]);
        var overlay = new TreeOverlay(tree, [File(".startup.toml", "new"), File("b", "5"), File("zzz", "6")]);
        var paths = Paths(overlay);
        // The oracle: the same tree sorted the way TreeWalker sorts names (by bytes), with the directory replaced.
        var expected = new[] { "", "-dash", "-dash/x", ".startup.toml", "b", "bin", "bin/sh", "zz", "zzz" };
        Assert.Equal(expected, paths);
        var toml = overlay.WalkAsync().ToBlockingEnumerable().Single(e => e.Path == ".startup.toml");
        Assert.Equal(EntryType.RegularFile, toml.Type);
    }

    [Fact]
    public void RefusesWhatIsNotAFileAtTheRoot()
    {
        var tree = new ListSource([Dir("")]);
        Assert.Throws<ArgumentException>(() => new TreeOverlay(tree, [File("a/b", "x")]));
        Assert.Throws<ArgumentException>(() => new TreeOverlay(tree, [Dir("a")]));
        Assert.Throws<ArgumentException>(() => new TreeOverlay(tree, [File("a", "x"), File("a", "y")]));
    }
}
