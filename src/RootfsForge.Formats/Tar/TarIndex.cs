using System.Text;
using RootfsForge.Tree;

namespace RootfsForge.Tar;

/// <summary>
/// The tree of names that one archive, or a stack of OCI image layers, leaves behind when extracted: built in memory from
/// the members' metadata (memory grows with the number of members, never with content), then walked with
/// <see cref="TreeWalker{TNode}"/>. Contents stay in their archives: each regular file's inode records its
/// <see cref="TarArchive"/> and where its data lies.
/// </summary>
/// <remarks>
/// <para>Members are applied in archive order, as extraction would apply them (docs/tar-output.md §10): a later member replaces
/// an earlier one of any type at the same name, except that a directory over a directory merges with it and takes its
/// metadata; parents missing from the archive are made (mode 0755, owner 0:0, time 0) and reported by the walk; a hard
/// link names the inode of an earlier non-directory member, and the walk emits the first of its names with the content.</para>
/// <para>Names are made relative to the root: a leading <c>/</c> is dropped, empty and <c>.</c> components are skipped, and
/// <c>..</c> components are resolved lexically without ever leaving the root (<c>../../etc/x</c> is <c>etc/x</c>,
/// <c>a/../b</c> is <c>b</c>), with one warning per archive naming the first such member. That is what containerd
/// (<c>filepath.Clean</c> of the member name, then <c>fs.RootPath</c>) and umoci (<c>CleanPath</c>) do with layer members, so
/// a layered image reads as runtimes unpack it; a tree path can never point outside the root whatever the archive
/// says, so no name is refused.</para>
/// <para>With <c>ociLayer</c>, <see cref="ApplyLayer"/> applies the archive as an OCI image layer on top of what is already
/// there (image-spec <c>layer.md</c>, "Applying Changesets"): see <see cref="ApplyWhiteout"/> for whiteouts and
/// <see cref="ResolveInRoot"/> for names that go through symlinks.</para>
/// </remarks>
internal sealed class TarIndex
{
    /// <summary>The default of <see cref="TarArchiveSourceOptions.MaxEntries"/>.</summary>
    public const long DefaultMaxEntries = 20_000_000;

    private static ReadOnlySpan<byte> WhiteoutPrefix => ".wh."u8;
    private static ReadOnlySpan<byte> OpaqueWhiteout => ".wh..wh..opq"u8;

    private readonly long _maxEntries;
    private readonly List<string> _warnings = [];
    private readonly List<Range> _components = [];
    private readonly List<Range> _linkComponents = [];
    private readonly List<TarNode> _path = [];
    private readonly HashSet<TarNode> _cleaned = new(ReferenceEqualityComparer.Instance); // directories of this layer rid of lower names
    private long _entries;
    private long _nextInodeId = 1;
    private int _layer;
    private bool _warnedAbsolute;
    private bool _warnedDotDot;
    private bool _warnedAufs;

    /// <param name="maxEntries">The most members (of all layers together) read before giving up.</param>
    public TarIndex(long maxEntries = DefaultMaxEntries)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxEntries);
        _maxEntries = maxEntries;
    }

    /// <summary>The root directory (default metadata until a member names <c>./</c>).</summary>
    public TarNode Root { get; } = new([], TarInode.SynthesizedDirectory());

    /// <summary>Problems found and worked around, for the summary.</summary>
    public IReadOnlyList<string> Warnings => _warnings;

    /// <summary>The number of archives applied so far.</summary>
    public int LayerCount => _layer;

    /// <summary>
    /// Applies every member of <paramref name="layer"/> on top of the tree: for the first (or only) archive, that builds
    /// the tree; for later ones, each member replaces or merges with what lower layers left.
    /// </summary>
    /// <param name="layer">The archive; it must stay open while the tree is walked and its contents read.</param>
    /// <param name="ociLayer">
    /// Apply OCI image layer rules: <c>.wh.</c> whiteout files delete lower names and are not part of the tree,
    /// <c>.wh..wh..opq</c> hides a directory's lower contents, and names (member names, hard link targets, whiteouts)
    /// resolve through symlinks inside the root as container runtimes resolve them. Without it, whiteout files are
    /// ordinary names and a member under a symlink is skipped with a warning.
    /// </param>
    /// <param name="cancellationToken">Stops reading.</param>
    /// <exception cref="ImageFormatException">The archive is corrupt or passes a limit (<see cref="TarLimits"/>, the entry
    /// count), or a name goes through more than 40 symlinks; its <see cref="ImageFormatException.ImagePath"/> names the archive.</exception>
    public void ApplyLayer(TarArchive layer, bool ociLayer, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(layer);
        int number = ++_layer;
        _warnedAbsolute = _warnedDotDot = _warnedAufs = false;
        _cleaned.Clear();
        var reader = new TarMemberReader(layer, _warnings);
        try
        {
            while (reader.ReadNext(cancellationToken) is { } member)
            {
                if (++_entries > _maxEntries)
                    throw new ImageFormatException($"more than {_maxEntries} members", "tar archive", member.Offset, kind: ImageErrorKind.LimitExceeded);
                Apply(member, layer, number, ociLayer);
            }
        }
        catch (ImageFormatException e) when (e.ImagePath is null)
        {
            throw e.WithImagePath(layer.Description);
        }
    }

    /// <summary>Every entry of the tree in <see cref="ITreeSource.WalkAsync"/> order.</summary>
    public IEnumerable<TreeEntry> Walk(CancellationToken cancellationToken = default)
    {
        foreach (var (entry, _) in new TarTreeWalker(_warnings).Walk(Root, cancellationToken)) yield return entry;
    }

    private void Apply(TarMember member, TarArchive archive, int layer, bool oci)
    {
        var name = member.Name;
        var components = _components;
        Normalize(name, member.Offset, components, archive);
        if (components.Count == 0)
        {
            if (member.Type == EntryType.Directory)
            {
                Root.Inode = TarInode.From(member, archive, _nextInodeId++);
                Root.Layer = layer;
            }
            else
            {
                _warnings.Add($"{archive.Description}: a member for the root is not a directory; ignored");
            }
            return;
        }
        var file = name.AsSpan(components[^1]);
        if (oci && file.StartsWith(WhiteoutPrefix))
        {
            ApplyWhiteout(name, components, layer, archive);
            return;
        }
        if (oci && HasWhiteoutDirectory(name, components))
        {
            // No directory of an image can be named .wh.* (layer.md, "Whiteouts"); runtimes would make one, but the tree
            // must never show a whiteout name.
            _warnings.Add($"{Display(name, components, components.Count)}: lies under a whiteout name; skipped");
            return;
        }

        TarInode inode;
        if (member.Type == EntryType.HardLink)
        {
            var target = FindLinkTarget(member, layer, oci, archive);
            if (target is null)
            {
                _warnings.Add($"{Display(name, components, components.Count)}: hard link to '{TreePath.Printable(FileNameEncoding.GetString(member.LinkName))}', " +
                    "which is not an earlier non-directory member; skipped");
                return;
            }
            inode = target.Inode;
            inode.HasHardLinks = true;
        }
        else
        {
            inode = TarInode.From(member, archive, _nextInodeId++);
        }

        var parent = FindParent(name, components, layer, oci, create: true);
        if (parent is null) return;
        var existing = parent.Find(file);
        if (existing is null)
        {
            parent.Add(new TarNode(file.ToArray(), inode) { Layer = layer });
            return;
        }
        if (existing.IsDirectory && inode.Type == EntryType.Directory)
        {
            existing.Inode = inode; // the directory merges, with the later member's metadata
        }
        else
        {
            if (!oci && existing.Children is { Count: > 0 })
                _warnings.Add($"{Display(name, components, components.Count)}: directory replaced by a later non-directory member; its contents are dropped");
            existing.Inode = inode;
            existing.Children = null;
        }
        existing.Synthesized = false;
        existing.Layer = layer;
    }

    /// <summary>
    /// The node of a hard link's target: the parent resolved like a member's (through symlinks for a layer; umoci's
    /// <c>SecureJoinVFS</c> of the link's directory), the last component not followed (link(2) names a symlink itself).
    /// </summary>
    private TarNode? FindLinkTarget(TarMember member, int layer, bool oci, TarArchive archive)
    {
        var link = member.LinkName;
        var components = _linkComponents;
        Normalize(link, member.Offset, components, archive);
        if (components.Count == 0) return null;
        var target = FindParent(link, components, layer, oci, create: false)?.Find(link.AsSpan(components[^1]));
        return target is null || target.IsDirectory ? null : target;
    }

    /// <summary>
    /// The directory holding the last component of <paramref name="name"/>. With <paramref name="create"/>, missing
    /// directories are made and every directory on the way is marked as touched by <paramref name="layer"/>; a component
    /// that is not a directory makes the member skipped with a warning. Without it, null when anything is missing.
    /// </summary>
    private TarNode? FindParent(byte[] name, List<Range> components, int layer, bool followSymlinks, bool create)
    {
        var path = _path;
        path.Clear();
        var node = Root;
        for (int i = 0; i < components.Count - 1; i++)
        {
            var component = name.AsSpan(components[i]);
            var child = node.Find(component);
            if (child is null)
            {
                if (!create) return null;
                child = new TarNode(component.ToArray(), TarInode.SynthesizedDirectory()) { Synthesized = true };
                node.Add(child);
            }
            else if (child.Inode.Type == EntryType.SymbolicLink && followSymlinks)
            {
                return ResolveInRoot(name, components, layer, create);
            }
            else if (!child.IsDirectory)
            {
                if (create)
                    _warnings.Add($"{Display(name, components, components.Count)}: lies under {Display(name, components, i + 1)}, which is not a directory; skipped");
                return null;
            }
            path.Add(child);
            node = child;
        }
        if (create)
        {
            Root.Layer = layer;
            foreach (var directory in path) directory.Layer = layer;
        }
        return node;
    }

    /// <summary>
    /// <see cref="FindParent"/> for a name whose directories go through a symlink, in a layer. Container runtimes write
    /// such a member where the symlink points, resolved as if the image root were the file system root: containerd's
    /// applier resolves the member's directory with <c>fs.RootPath(root, dir)</c>, umoci's <c>UnpackEntry</c> with
    /// <c>securejoin.SecureJoinVFS(root, dir)</c> (both from the member's cleaned name; the last component is never
    /// followed), and moby extracts inside a chroot of the root. So with a lower <c>etc -> /tmp</c>, an upper
    /// <c>etc/passwd</c> becomes <c>tmp/passwd</c> (and <c>tmp</c> is made if missing, as their <c>MkdirAll</c> does); a
    /// relative target resolves from the symlink's directory; <c>..</c> stops at the root; more than 40 symlinks is a loop
    /// (Linux's MAXSYMLINKS, as <see cref="PathResolver"/>). A component past a missing one is taken lexically, like
    /// securejoin does, and only what the resolved path still needs is made.
    /// </summary>
    /// <exception cref="ImageFormatException">More than 40 symlinks (<see cref="ImageErrorKind.Loop"/>).</exception>
    private TarNode? ResolveInRoot(byte[] name, List<Range> components, int layer, bool create)
    {
        var pending = new Stack<byte[]>();
        for (int i = components.Count - 2; i >= 0; i--) pending.Push(name[components[i]]);
        var resolved = new List<(byte[] Name, TarNode? Node)>(); // Node is null where nothing exists yet
        int links = 0;
        while (pending.Count > 0)
        {
            var component = pending.Pop();
            if (component.Length == 0 || component is [(byte)'.']) continue;
            if (component is [(byte)'.', (byte)'.'])
            {
                if (resolved.Count > 0) resolved.RemoveAt(resolved.Count - 1);
                continue;
            }
            var parent = resolved.Count == 0 ? Root : resolved[^1].Node;
            var child = parent?.Find(component);
            if (child?.Inode.Type == EntryType.SymbolicLink)
            {
                if (++links > PathResolver.MaxSymlinks)
                    throw new ImageFormatException($"{Display(name, components, components.Count)}: more than {PathResolver.MaxSymlinks} levels of symbolic links",
                        "tar entry name", kind: ImageErrorKind.Loop);
                var target = child.Inode.LinkTarget.AsSpan();
                int nul = target.IndexOf((byte)0);
                if (nul >= 0) target = target[..nul]; // as the kernel reads it (SymlinkTarget)
                if (target.IsEmpty) return Skip("an empty symlink");
                if (target[0] == '/') resolved.Clear();
                var parts = new List<byte[]>();
                foreach (var range in target.Split((byte)'/')) parts.Add(target[range].ToArray());
                for (int i = parts.Count - 1; i >= 0; i--) pending.Push(parts[i]);
                continue;
            }
            if (child is not null && !child.IsDirectory) return Skip("a file that is not a directory");
            if (child is null && component.AsSpan().StartsWith(WhiteoutPrefix)) return Skip("a whiteout name");
            resolved.Add((component, child));
        }

        var node = Root;
        foreach (var (component, existing) in resolved)
        {
            var next = existing;
            if (next is null)
            {
                if (!create) return null;
                next = new TarNode(component, TarInode.SynthesizedDirectory()) { Synthesized = true, Layer = layer };
                node.Add(next);
            }
            node = next;
        }
        if (create)
        {
            Root.Layer = layer;
            foreach (var (_, existing) in resolved)
            {
                if (existing is not null) existing.Layer = layer;
            }
        }
        return node;

        TarNode? Skip(string what)
        {
            if (create)
                _warnings.Add($"{Display(name, components, components.Count)}: its directory resolves through {what}; skipped");
            return null;
        }
    }

    /// <summary>
    /// An OCI whiteout (image-spec <c>layer.md</c>, "Whiteouts"): <c>.wh.NAME</c> deletes NAME with everything below it,
    /// <c>.wh..wh..opq</c> deletes everything in its directory, but only what lower layers put there: whatever this layer
    /// itself adds stays, whether it comes before or after the whiteout in the archive ("Whiteout files MUST only apply to
    /// resources in lower/parent layers"). Like umoci's <c>ociWhiteout</c>, a name this layer touched is kept and its lower
    /// descendants are deleted (<see cref="TarNode.Layer"/> marks the names a layer created and their directories). The
    /// whiteout's directory resolves like a member's; a whiteout of something absent does nothing; whiteout files never
    /// become entries. Other <c>.wh..wh.</c> names are AUFS metadata, ignored with a warning.
    /// </summary>
    private void ApplyWhiteout(byte[] name, List<Range> components, int layer, TarArchive archive)
    {
        var parent = FindParent(name, components, layer, followSymlinks: true, create: false);
        var file = name.AsSpan(components[^1]);
        if (file.SequenceEqual(OpaqueWhiteout))
        {
            if (parent is not null) DeleteLower(parent, layer, _cleaned);
            return;
        }
        var hidden = file[WhiteoutPrefix.Length..];
        if (hidden.StartsWith(WhiteoutPrefix) || !TreePath.IsValidName(hidden))
        {
            if (!_warnedAufs)
                _warnings.Add($"{archive.Description}: {Display(name, components, components.Count)}: not a whiteout of a valid name (AUFS metadata?); ignored");
            _warnedAufs = true;
            return;
        }
        var target = parent?.Find(hidden);
        if (target is null) return;
        if (target.Layer != layer) parent!.Children!.Remove(target.Name);
        else if (target.IsDirectory) DeleteLower(target, layer, _cleaned);
    }

    private static bool HasWhiteoutDirectory(byte[] name, List<Range> components)
    {
        for (int i = 0; i < components.Count - 1; i++)
            if (name.AsSpan(components[i]).StartsWith(WhiteoutPrefix)) return true;
        return false;
    }

    /// <summary>
    /// Deletes, below <paramref name="directory"/>, every name that <paramref name="layer"/> did not touch. A directory
    /// already cleaned in this layer holds no lower names any more (none can come back while one layer is applied), so
    /// it is not visited again: a layer's whiteouts cost at most one visit of each name, however many there are.
    /// </summary>
    private static void DeleteLower(TarNode directory, int layer, HashSet<TarNode> cleaned)
    {
        var pending = new Stack<TarNode>();
        pending.Push(directory);
        var doomed = new List<byte[]>();
        while (pending.Count > 0)
        {
            var node = pending.Pop();
            if (!cleaned.Add(node) || node.Children is not { } children) continue;
            doomed.Clear();
            foreach (var child in children.Values)
            {
                if (child.Layer != layer) doomed.Add(child.Name);
                else if (child.IsDirectory) pending.Push(child);
            }
            foreach (var n in doomed) children.Remove(n);
        }
    }

    /// <summary>
    /// The components of a member name (ranges of <paramref name="name"/>), made relative and resolved lexically inside
    /// the root (see the remarks).
    /// </summary>
    /// <exception cref="ImageFormatException">More than <see cref="TarLimits.MaxNameDepth"/> components.</exception>
    private void Normalize(byte[] name, long offset, List<Range> components, TarArchive archive)
    {
        components.Clear();
        bool dotDot = false;
        int start = 0;
        for (int i = 0; i <= name.Length; i++)
        {
            if (i < name.Length && name[i] != '/') continue;
            var component = name.AsSpan(start, i - start);
            if (component is [(byte)'.', (byte)'.'])
            {
                dotDot = true;
                if (components.Count > 0) components.RemoveAt(components.Count - 1);
            }
            else if (component.Length > 0 && component is not [(byte)'.'])
            {
                if (components.Count == TarLimits.MaxNameDepth)
                    throw new ImageFormatException($"member name has more than {TarLimits.MaxNameDepth} components", "tar entry name", offset,
                        kind: ImageErrorKind.LimitExceeded);
                components.Add(new Range(start, i));
            }
            start = i + 1;
        }
        if (name.Length > 0 && name[0] == '/' && !_warnedAbsolute)
        {
            _warnedAbsolute = true;
            _warnings.Add($"{archive.Description}: absolute member names were made relative");
        }
        if (dotDot && !_warnedDotDot)
        {
            _warnedDotDot = true;
            _warnings.Add($"{archive.Description}: member '{TreePath.Printable(FileNameEncoding.GetString(name))}' has '..' components; " +
                $"resolved inside the root as {Display(name, components, components.Count)} (and so are any further such names)");
        }
    }

    private static string Display(byte[] name, List<Range> components, int count)
    {
        var path = new StringBuilder();
        for (int i = 0; i < count; i++)
        {
            if (i > 0) path.Append('/');
            path.Append(FileNameEncoding.GetString(name.AsSpan(components[i])));
        }
        return TreePath.Display(path.ToString());
    }
}
