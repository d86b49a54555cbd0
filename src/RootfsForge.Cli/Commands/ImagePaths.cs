using RootfsForge.Ext4;
using RootfsForge.Tree;

namespace RootfsForge.Cli.Commands;

/// <summary>Looks a path up in the image the way the guest would see it (the shared <see cref="Tree.PathResolver"/>).</summary>
internal static class ImagePaths
{
    public static TreeEntry? Resolve(Ext4FileSystem fs, string path, bool followFinal)
    {
        string? resolved = Tree.PathResolver.Resolve(path,
            p => fs.GetEntry(p) is { } e ? new Tree.PathResolver.Node(e.Type, e.LinkTarget) : null, followFinal);
        return resolved is null ? null : fs.GetEntry(resolved);
    }
}
