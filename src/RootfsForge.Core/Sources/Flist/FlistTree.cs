using RootfsForge.Flist;
using RootfsForge.Tree;

namespace RootfsForge.Sources.Flist;

/// <summary>
/// How the inode rows of a <c>.fl</c> form a tree (docs/flist-format.md §2.1, §2.8): the root (the one row with parent 0,
/// a directory), each directory's children, and what keeps rows out of the tree. Each row names its parent, so the rows
/// reachable from the root are a tree by construction; a row is unreachable when its parent does not exist
/// (<see cref="ImageErrorKind.MissingReference"/>), is not a directory (<see cref="ImageErrorKind.Corrupt"/>), or when
/// following parents never leads to the root because they form a cycle (<see cref="ImageErrorKind.InvalidName"/>: the
/// rows have no path, "an unreachable entry"). rfs's mount never shows unreachable rows, so a reader that ignored them
/// would extract a different tree than the one the file seems to hold: walks refuse such a file with the first problem,
/// <c>fl verify</c> reports every one, <c>fl info</c> counts them.
/// </summary>
internal sealed class FlistTree
{
    /// <summary>Problems listed one by one; the rest are only counted.</summary>
    private const int MaxListedProblems = 20;

    private readonly Dictionary<long, List<FlistInode>> _children = [];

    private FlistTree(string path) => Path = path;

    /// <summary>The .fl file, for messages.</summary>
    public string Path { get; }

    /// <summary>The root inode (parent 0), or null when there is none.</summary>
    public FlistInode? Root { get; private set; }

    /// <summary>The number of rows the walk from the root does not reach.</summary>
    public int UnreachableCount { get; private set; }

    /// <summary>What is wrong with the tree's shape, in ino order (the first <see cref="MaxListedProblems"/> unreachable rows and every root problem).</summary>
    public List<ImageFormatException> Problems { get; } = [];

    /// <summary>The children rows of the directory <paramref name="ino"/>, in row order.</summary>
    public IReadOnlyList<FlistInode> ChildrenOf(long ino) => _children.TryGetValue(ino, out var list) ? list : [];

    /// <summary>Builds the tree of <paramref name="file"/>'s rows.</summary>
    public static FlistTree Build(FlistFile file)
    {
        var tree = new FlistTree(file.Path);
        var byIno = new Dictionary<long, FlistInode>(file.Inodes.Count);
        foreach (var i in file.Inodes)
        {
            byIno[i.Ino] = i;
            if (i.Parent != 0) continue;
            if (tree.Root is not null)
            {
                tree.Problems.Add(tree.Bad($"a second root: ino {i.Ino} has parent 0 too (ino {tree.Root.Ino} is the first)", i.Structure));
                continue;
            }
            tree.Root = i;
        }
        if (tree.Root is null) tree.Problems.Add(tree.Bad("no root inode (no row has parent 0)", "inode table"));
        else if (tree.Root.Type != FileTypeBits.Directory)
            tree.Problems.Add(tree.Bad($"the root (parent 0) is not a directory: mode {Convert.ToString(tree.Root.Mode, 8)}", tree.Root.Structure));

        // Children of directories only: a row whose parent is missing or not a directory is not in any list.
        var orphans = new List<(FlistInode Inode, ImageFormatException Why)>();
        foreach (var i in file.Inodes)
        {
            if (i.Parent == 0) continue;
            if (!byIno.TryGetValue(i.Parent, out var parent))
            {
                orphans.Add((i, tree.Bad($"'{i.DisplayName}': its parent {i.Parent} does not exist", i.Structure, ImageErrorKind.MissingReference)));
                continue;
            }
            if (parent.Type != FileTypeBits.Directory)
            {
                orphans.Add((i, tree.Bad($"'{i.DisplayName}': its parent {i.Parent} is not a directory", i.Structure)));
                continue;
            }
            if (!tree._children.TryGetValue(i.Parent, out var list)) tree._children[i.Parent] = list = [];
            list.Add(i);
        }

        var reached = new HashSet<long>();
        if (tree.Root is not null && tree.Root.Type == FileTypeBits.Directory)
        {
            var pending = new Stack<long>();
            pending.Push(tree.Root.Ino);
            reached.Add(tree.Root.Ino);
            while (pending.Count > 0)
            {
                foreach (var child in tree.ChildrenOf(pending.Pop()))
                    if (reached.Add(child.Ino) && child.Type == FileTypeBits.Directory) pending.Push(child.Ino);
            }
        }
        var orphanReasons = orphans.ToDictionary(o => o.Inode.Ino, o => o.Why);
        foreach (var i in file.Inodes)
        {
            if (reached.Contains(i.Ino)) continue;
            tree.UnreachableCount++;
            if (i.Parent == 0 || tree.Problems.Count >= MaxListedProblems) continue; // a root: its problem is listed above
            tree.Problems.Add(orphanReasons.TryGetValue(i.Ino, out var why) ? why : tree.Unreachable(i, byIno));
        }
        return tree;
    }

    /// <summary>Why <paramref name="inode"/>, whose own parent exists and is a directory, never reaches the root.</summary>
    private ImageFormatException Unreachable(FlistInode inode, Dictionary<long, FlistInode> byIno)
    {
        var chain = new List<long> { inode.Ino };
        var seen = new HashSet<long> { inode.Ino };
        for (var at = inode; byIno.TryGetValue(at.Parent, out var up) && up.Parent != 0; at = up)
        {
            chain.Add(up.Ino);
            if (!seen.Add(up.Ino))
                return Bad($"'{inode.DisplayName}' is not reachable from the root: its parents form a cycle ({string.Join(" -> ", chain)})",
                    inode.Structure, ImageErrorKind.InvalidName);
        }
        return Bad($"'{inode.DisplayName}' is not reachable from the root: an ancestor ({string.Join(" -> ", chain)}) has a missing or non-directory parent",
            inode.Structure, ImageErrorKind.InvalidName);
    }

    private ImageFormatException Bad(string message, string structure, ImageErrorKind kind = ImageErrorKind.Corrupt) =>
        new(message, structure, kind: kind) { ImagePath = Path };
}
