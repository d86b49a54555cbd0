using RootfsForge.Sources.Flist;
using RootfsForge.Tree;

namespace RootfsForge.Diff;

/// <summary>How a path differs between two trees.</summary>
public enum TreeChangeKind
{
    /// <summary>Only in the second tree.</summary>
    Added,

    /// <summary>Only in the first tree.</summary>
    Removed,

    /// <summary>In both, with different type, content, link target, mode, owner, device number or xattrs.</summary>
    Changed,
}

/// <summary>One aspect of a path that differs: <c>type</c>, <c>content</c>, <c>target</c>, <c>mode</c>, <c>owner</c>, <c>device</c> or <c>xattrs</c>.</summary>
/// <param name="Field">The aspect's name.</param>
/// <param name="Old">The first tree's value (mode as octal, owner as uid:gid, content as its size in bytes).</param>
/// <param name="New">The second tree's value.</param>
public sealed record TreeFieldChange(string Field, string Old, string New);

/// <summary>A path that differs.</summary>
/// <param name="Path">The path (<see cref="TreePath"/> form; "" is the root).</param>
/// <param name="Kind">Added, removed or changed.</param>
/// <param name="Type">The entry's type in the second tree (the first for a removed path); hard links count as files.</param>
/// <param name="Fields">For <see cref="TreeChangeKind.Changed"/>: what differs.</param>
public sealed record TreeChange(string Path, TreeChangeKind Kind, EntryType Type, IReadOnlyList<TreeFieldChange> Fields);

/// <summary>For two <c>.fl</c> files: the second's distinct content blocks and those the first does not have.</summary>
/// <param name="Blocks">Distinct blocks of the second flist.</param>
/// <param name="Bytes">Their plaintext bytes.</param>
/// <param name="NewBlocks">Blocks of the second flist the first does not reference (what publishing it uploads at most).</param>
/// <param name="NewBytes">Their plaintext bytes.</param>
public sealed record FlistBlockDelta(long Blocks, long Bytes, long NewBlocks, long NewBytes);

/// <summary>The outcome of <see cref="TreeDiff.CompareAsync"/>.</summary>
/// <param name="Changes">Differing paths in ordinal path order.</param>
/// <param name="Blocks">The block delta when both trees are <c>.fl</c> files, else null.</param>
public sealed record TreeDiffResult(IReadOnlyList<TreeChange> Changes, FlistBlockDelta? Blocks)
{
    /// <summary>True when no path differs.</summary>
    public bool Same => Changes.Count == 0;
}

/// <summary>
/// Compares two trees path by path: what a reviewer reads before a rebuilt flist is published. Times are not compared
/// (builds clamp them; a rebuild changes nothing else by touching them). File content is compared by bytes, or, between
/// two <c>.fl</c> files, by their block keys without fetching a block. A missing root entry (tars often have none) is
/// not a difference. Metadata of both trees is held in memory; contents are streamed.
/// </summary>
public static class TreeDiff
{
    private const int BufferSize = 1 << 20;

    /// <summary>Compares <paramref name="a"/> (before) with <paramref name="b"/> (after).</summary>
    public static async Task<TreeDiffResult> CompareAsync(ITreeSource a, ITreeSource b, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var before = await IndexAsync(a, cancellationToken).ConfigureAwait(false);
        var after = await IndexAsync(b, cancellationToken).ConfigureAwait(false);
        var changes = new List<TreeChange>();
        var paths = new SortedSet<string>(before.Keys, StringComparer.Ordinal);
        paths.UnionWith(after.Keys);
        var buffers = (new byte[BufferSize], new byte[BufferSize]);
        foreach (var path in paths)
        {
            cancellationToken.ThrowIfCancellationRequested();
            bool inA = before.TryGetValue(path, out var ea), inB = after.TryGetValue(path, out var eb);
            if (path.Length == 0 && !(inA && inB)) continue;
            if (!inA) changes.Add(new TreeChange(path, TreeChangeKind.Added, TypeOf(eb!), []));
            else if (!inB) changes.Add(new TreeChange(path, TreeChangeKind.Removed, TypeOf(ea!), []));
            else
            {
                var fields = await CompareEntriesAsync(a, ea!, b, eb!, buffers, cancellationToken).ConfigureAwait(false);
                if (fields.Count > 0) changes.Add(new TreeChange(path, TreeChangeKind.Changed, TypeOf(eb!), fields));
            }
        }
        return new TreeDiffResult(changes, a is FlistSource fa && b is FlistSource fb ? BlockDelta(fa, fb) : null);
    }

    private static async Task<Dictionary<string, TreeEntry>> IndexAsync(ITreeSource source, CancellationToken ct)
    {
        var index = new Dictionary<string, TreeEntry>(StringComparer.Ordinal);
        await foreach (var e in source.WalkAsync(ct).ConfigureAwait(false)) index[e.Path] = e;
        return index;
    }

    /// <summary>A hard link is another name of a regular file: compared as one.</summary>
    private static EntryType TypeOf(TreeEntry e) => e.Type == EntryType.HardLink ? EntryType.RegularFile : e.Type;

    private static async Task<List<TreeFieldChange>> CompareEntriesAsync(ITreeSource sa, TreeEntry a, ITreeSource sb, TreeEntry b,
        (byte[], byte[]) buffers, CancellationToken ct)
    {
        var fields = new List<TreeFieldChange>();
        EntryType ta = TypeOf(a), tb = TypeOf(b);
        if (ta != tb)
            fields.Add(new("type", TypeName(ta), TypeName(tb)));
        else if (ta == EntryType.RegularFile)
        {
            if (!await SameContentAsync(sa, a, sb, b, buffers, ct).ConfigureAwait(false))
                fields.Add(new("content", SizeOf(a), SizeOf(b)));
        }
        else if (ta == EntryType.SymbolicLink && a.LinkTarget != b.LinkTarget)
            fields.Add(new("target", TreePath.Printable(a.LinkTarget ?? ""), TreePath.Printable(b.LinkTarget ?? "")));
        else if (ta is EntryType.CharacterDevice or EntryType.BlockDevice && (a.DeviceMajor, a.DeviceMinor) != (b.DeviceMajor, b.DeviceMinor))
            fields.Add(new("device", $"{a.DeviceMajor},{a.DeviceMinor}", $"{b.DeviceMajor},{b.DeviceMinor}"));
        // Symlink permissions mean nothing on Linux (and sources report 0777 or 0): not compared.
        if (ta != EntryType.SymbolicLink && tb != EntryType.SymbolicLink && (a.Permissions & 0xFFF) != (b.Permissions & 0xFFF))
            fields.Add(new("mode", Octal(a.Permissions), Octal(b.Permissions)));
        if (a.Uid != b.Uid || a.Gid != b.Gid)
            fields.Add(new("owner", $"{a.Uid}:{a.Gid}", $"{b.Uid}:{b.Gid}"));
        if (!SameXattrs(a.ExtendedAttributes, b.ExtendedAttributes))
            fields.Add(new("xattrs", XattrNames(a.ExtendedAttributes), XattrNames(b.ExtendedAttributes)));
        return fields;
    }

    private static async Task<bool> SameContentAsync(ITreeSource sa, TreeEntry a, ITreeSource sb, TreeEntry b, (byte[] A, byte[] B) buffers,
        CancellationToken ct)
    {
        if (a.Size != b.Size) return false;
        if (sa is FlistSource fa && sb is FlistSource fb)
        {
            // Equal sizes chunk equally (fixed 512 KiB chunks), and a key is its chunk's plaintext hash.
            var ka = fa.ContentBlocksOf(a);
            var kb = fb.ContentBlocksOf(b);
            if (ka.Count == kb.Count && ka.Count == Flist.FlistFile.BlockCount(a.Size))
                return ka.Select(k => k.Key).SequenceEqual(kb.Select(k => k.Key), StringComparer.Ordinal);
        }
        if (a.OpenContent is null || b.OpenContent is null) return a.Size == 0 && b.Size == 0;
        using var ca = a.OpenContent();
        using var cb = b.OpenContent();
        if (ca.Length != cb.Length) return false;
        for (long offset = 0; offset < ca.Length;)
        {
            int n = (int)Math.Min(BufferSize, ca.Length - offset);
            await ca.ReadExactlyAtAsync(offset, buffers.A.AsMemory(0, n), ct).ConfigureAwait(false);
            await cb.ReadExactlyAtAsync(offset, buffers.B.AsMemory(0, n), ct).ConfigureAwait(false);
            if (!buffers.A.AsSpan(0, n).SequenceEqual(buffers.B.AsSpan(0, n))) return false;
            offset += n;
        }
        return true;
    }

    private static FlistBlockDelta BlockDelta(FlistSource a, FlistSource b)
    {
        var known = a.DistinctContentBlocks().Select(k => k.Id).ToHashSet(StringComparer.Ordinal);
        long blocks = 0, bytes = 0, newBlocks = 0, newBytes = 0;
        foreach (var k in b.DistinctContentBlocks())
        {
            blocks++;
            bytes += k.Length;
            if (known.Contains(k.Id)) continue;
            newBlocks++;
            newBytes += k.Length;
        }
        return new FlistBlockDelta(blocks, bytes, newBlocks, newBytes);
    }

    private static bool SameXattrs(IReadOnlyList<ExtendedAttribute> a, IReadOnlyList<ExtendedAttribute> b) =>
        a.Count == b.Count && a.Zip(b).All(p => p.First.Name == p.Second.Name && p.First.Value.AsSpan().SequenceEqual(p.Second.Value));

    private static string XattrNames(IReadOnlyList<ExtendedAttribute> x) => string.Join(',', x.Select(a => TreePath.Printable(a.Name)));

    private static string SizeOf(TreeEntry e) => e.Size.ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static string Octal(int permissions) => "0" + Convert.ToString(permissions & 0xFFF, 8).PadLeft(3, '0');

    /// <summary>The type's name as diff output shows it.</summary>
    public static string TypeName(EntryType type) => type switch
    {
        EntryType.RegularFile or EntryType.HardLink => "file",
        EntryType.Directory => "directory",
        EntryType.SymbolicLink => "symlink",
        EntryType.CharacterDevice => "char-device",
        EntryType.BlockDevice => "block-device",
        EntryType.Fifo => "fifo",
        EntryType.Socket => "socket",
        _ => type.ToString().ToLowerInvariant(),
    };
}
