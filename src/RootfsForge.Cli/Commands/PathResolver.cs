using RootfsForge.Ext4;
using RootfsForge.Tree;

namespace RootfsForge.Cli.Commands;

/// <summary>Resolves a path inside the image the way the guest would see it: symlinks relative to the image root.</summary>
internal static class PathResolver
{
    private const int MaxSymlinks = 40;

    public static TreeEntry? Resolve(Ext4FileSystem fs, string path, bool followFinal)
    {
        var pending = new Stack<string>(Split(path).Reverse());
        var resolved = new List<string>();
        int links = 0;
        while (pending.Count > 0)
        {
            string part = pending.Pop();
            if (part == "..")
            {
                if (resolved.Count > 0) resolved.RemoveAt(resolved.Count - 1);
                continue;
            }
            resolved.Add(part);
            var entry = fs.GetEntry(string.Join('/', resolved));
            if (entry is null) return null;
            bool last = pending.Count == 0;
            if (entry.Type == EntryType.SymbolicLink && (!last || followFinal))
            {
                if (++links > MaxSymlinks) throw new UsageException($"{path}: too many levels of symbolic links");
                resolved.RemoveAt(resolved.Count - 1);
                string target = entry.LinkTarget ?? "";
                if (target.StartsWith('/')) resolved.Clear();
                foreach (var t in Split(target).Reverse()) pending.Push(t);
            }
            else if (last)
            {
                return entry;
            }
        }
        return fs.GetEntry(string.Join('/', resolved));
    }

    private static IEnumerable<string> Split(string path) =>
        path.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(p => p != ".");
}
