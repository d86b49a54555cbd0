using RootfsForge.Tree;

namespace RootfsForge.Tar;

/// <summary>
/// Walks a <see cref="TarIndex"/> with the shared <see cref="TreeWalker{TNode}"/>: children come from each directory's
/// names, an inode named by hard links is tracked so its first name emitted carries the content, and directories the
/// index had to make are reported once.
/// </summary>
internal sealed class TarTreeWalker(List<string> warnings) : TreeWalker<TarNode>
{
    protected override TreeEntry? CreateEntry(string path, TarNode node)
    {
        if (node.Synthesized && !node.Reported)
        {
            node.Reported = true;
            Warn($"{TreePath.Display(path)}: directory missing from the archive; created with mode 0755");
        }
        var i = node.Inode;
        bool file = i.Type == EntryType.RegularFile;
        string? link = i.Type == EntryType.SymbolicLink ? FileNameEncoding.GetString(i.LinkTarget) : null;
        return new TreeEntry
        {
            Path = path,
            Type = i.Type,
            Permissions = i.Permissions,
            Uid = i.Uid,
            Gid = i.Gid,
            ModificationTime = i.ModificationTime,
            AccessTime = i.AccessTime,
            ChangeTime = i.ChangeTime,
            Size = file ? i.Size : link is null ? 0 : i.LinkTarget!.Length,
            DeviceMajor = i.DeviceMajor,
            DeviceMinor = i.DeviceMinor,
            LinkTarget = link,
            InodeId = i.Id,
            ExtendedAttributes = i.ExtendedAttributes,
            OpenContent = file ? () => new TarFileContent(i) : null,
        };
    }

    protected override void ReadChildren(TarNode directory, string path, List<WalkChild<TarNode>> children)
    {
        if (directory.Children is not { } names) return;
        foreach (var child in names.Values) children.Add(new WalkChild<TarNode>(child.Name, child));
    }

    protected override void Warn(string message) => warnings.Add(message);

    protected override object? LinkKey(TarNode node) => node.Inode.HasHardLinks && !node.IsDirectory ? node.Inode : null;
}
