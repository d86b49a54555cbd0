using System.Buffers;
using Microsoft.Win32.SafeHandles;
using RootfsForge.IO;
using RootfsForge.Tree;

namespace RootfsForge.Sinks.Directories;

/// <summary>
/// Recreates a tree under a target directory: content (holes kept as holes), owners, modes with setuid/setgid/sticky,
/// xattrs (ACLs, <c>security.capability</c>), device nodes, FIFOs, sockets, hard links, symlinks and nanosecond times.
/// Linux only.
/// </summary>
/// <remarks>
/// <para>Never writes outside the target: every parent is reached through directory handles opened with
/// <c>O_NOFOLLOW|O_DIRECTORY</c> from the target's handle (<see cref="OpenDirectoryStack"/>), every entry is created
/// relative to its parent's handle, and metadata calls do not follow symlinks. Paths that break
/// <see cref="TreePath"/>'s rules (absolute, <c>..</c>, empty or <c>.</c> components) and paths through a symlink or a
/// file are refused with <see cref="ImageFormatException"/> (<see cref="ImageErrorKind.InvalidName"/>), so a symlink
/// <c>etc -&gt; /etc</c> in the tree cannot redirect a later <c>etc/passwd</c>.</para>
/// <para>When the target does not exist it is built under a temporary sibling name and renamed into place by
/// <see cref="CompleteAsync"/> (<see cref="DirectoryTarget"/>); disposing an incomplete sink removes what it wrote. Owners
/// are applied before modes (chown clears setuid bits) and xattrs after both (chown clears <c>security.capability</c>);
/// directory modes, xattrs (default ACLs would otherwise be inherited by the children) and times are applied by
/// <see cref="CompleteAsync"/>, deepest first (<see cref="DirectoryNodeWriter"/>).</para>
/// <para>What the target cannot hold is skipped with a warning in <see cref="SinkStatistics.Warnings"/> instead of failing
/// the whole tree. Symlink targets end at their first NUL, as the kernel reads them; symlinks whose target is then empty
/// (<c>symlink(2)</c> refuses them with ENOENT; corrupt images have them) or longer than the target filesystem allows
/// (ENAMETOOLONG) are skipped, and so are hard links to skipped entries (<see cref="SkippedEntries"/>). Xattrs the target
/// refuses as too large (ENOSPC, E2BIG), unsupported (EOPNOTSUPP), not allowed on that kind of node (EPERM) or, without
/// privileges, not allowed to us (EACCES, EINVAL) are dropped and counted in <see cref="SinkStatistics.DroppedAttributes"/>;
/// the first ten are named, then only counted, except that every dropped <c>security.*</c>, <c>trusted.*</c> and
/// <c>system.*</c> attribute (capabilities, ACLs, labels) is always named (<see cref="XattrDropPolicy"/>). Any other
/// failure (EIO, EACCES or EINVAL when privileged, ENOSPC on a full target, ...) fails the sink.</para>
/// </remarks>
public sealed class DirectorySink : TreeSink
{
    private const int CopyBufferSize = 1 << 20;

    private readonly DirectoryTarget _target;
    private readonly OpenDirectoryStack _open;
    private readonly XattrDropPolicy _xattrs;
    private readonly DirectoryNodeWriter _writer;
    private readonly bool _privileged;
    private readonly bool _mayExist;
    private readonly List<TreeEntry> _directories = [];
    private readonly HashSet<string> _skippedPaths = new(StringComparer.Ordinal);
    private byte[]? _copyBuffer;
    private bool _completed;
    private bool _disposed;
    private long _skippedDevices;
    private long _skippedEntries;

    /// <summary>Prepares writing into <paramref name="target"/>, which must not exist or be an empty directory.</summary>
    /// <exception cref="IOException">The target is not empty (and the options do not allow it) or cannot be created.</exception>
    public DirectorySink(string target, DirectorySinkOptions? options = null)
    {
        options ??= new DirectorySinkOptions();
        _privileged = options.Privileged ?? Posix.EffectiveUserId == 0;
        _mayExist = options.AllowNonEmptyTarget;
        _target = DirectoryTarget.Prepare(target, options);
        _open = new OpenDirectoryStack(_target.Root);
        _xattrs = new XattrDropPolicy(Counters, _privileged);
        _writer = new DirectoryNodeWriter(Counters, _privileged, _xattrs);
    }

    /// <summary>Device nodes not created because the sink is not privileged.</summary>
    public long SkippedDevices => _skippedDevices;

    /// <summary>Entries whose owner was not restored because the sink is not privileged.</summary>
    public long SkippedOwners => _writer.SkippedOwners;

    /// <summary>
    /// Entries not created because a directory cannot hold them: symlinks with an empty or too long target and hard
    /// links to entries that were not created. Each is named in <see cref="SinkStatistics.Warnings"/>.
    /// </summary>
    public long SkippedEntries => _skippedEntries;

    /// <inheritdoc />
    public override async ValueTask AddAsync(TreeEntry entry, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ObjectDisposedException.ThrowIf(_completed || _disposed, this);
        cancellationToken.ThrowIfCancellationRequested();
        TreePath.Validate(entry.Path);
        if (entry.Path.Length == 0)
        {
            if (entry.Type != EntryType.Directory)
                throw new ImageFormatException("the root entry is not a directory", "tree entry", kind: ImageErrorKind.InvalidName);
            _directories.Add(entry);
            Counters.CountEntry();
            return;
        }
        string parentPath = TreePath.GetParent(entry.Path);
        byte[] name = FileNameEncoding.GetBytes(TreePath.GetName(entry.Path));
        var parent = OpenDirectory(parentPath, entry.Path, fromRoot: false);
        if (parentPath.Length == 0) _target.RecordTopLevel(name);
        switch (entry.Type)
        {
            case EntryType.Directory:
                _writer.CreateDirectory(parent, name, entry, _mayExist);
                _directories.Add(entry);
                break;
            case EntryType.RegularFile:
                _copyBuffer ??= ArrayPool<byte>.Shared.Rent(CopyBufferSize);
                await _writer.CreateFileAsync(parent, name, entry, _copyBuffer, cancellationToken).ConfigureAwait(false);
                break;
            case EntryType.HardLink:
                if (!AddHardLink(parent, name, entry)) return;
                break;
            case EntryType.SymbolicLink:
                if (_writer.CreateSymlink(parent, name, entry) is { } why)
                {
                    Skip(entry, why);
                    return;
                }
                break;
            case EntryType.CharacterDevice:
            case EntryType.BlockDevice:
                if (!_privileged)
                {
                    // Counted and reported in one line by CompleteAsync; remembered so hard links to it are skipped too.
                    _skippedDevices++;
                    _skippedPaths.Add(entry.Path);
                    return;
                }
                _writer.CreateNode(parent, name, entry, entry.TypeBits);
                break;
            case EntryType.Fifo:
            case EntryType.Socket:
                _writer.CreateNode(parent, name, entry, entry.TypeBits);
                break;
            default:
                throw new ArgumentException($"unknown entry type {entry.Type} for '{entry.Path}'", nameof(entry));
        }
        Counters.CountEntry();
    }

    /// <summary>Links a hard link to its (earlier) target; false when the target was skipped, so the link is too.</summary>
    private bool AddHardLink(SafeFileHandle parent, byte[] name, TreeEntry entry)
    {
        var target = entry.LinkTarget;
        if (string.IsNullOrEmpty(target))
            throw new ImageFormatException($"hard link '{TreePath.Printable(entry.Path)}' has no target", "tree entry",
                kind: ImageErrorKind.MissingReference);
        TreePath.Validate(target, "hard link target");
        if (_skippedPaths.Contains(target))
        {
            Skip(entry, $"hard link to '{TreePath.Printable(target)}', which was not created, skipped");
            return false;
        }
        string targetParent = TreePath.GetParent(target);
        var targetName = FileNameEncoding.GetBytes(TreePath.GetName(target));
        if (targetParent.Length == 0)
        {
            DirectoryNodeWriter.CreateHardLink(_target.Root, targetName, parent, name, entry);
            return true;
        }
        using var targetDirectory = OpenDirectory(targetParent, entry.Path, fromRoot: true);
        DirectoryNodeWriter.CreateHardLink(targetDirectory, targetName, parent, name, entry);
        return true;
    }

    /// <summary>
    /// The handle of the tree directory <paramref name="path"/>: from the stack of open directories (owned by it), or
    /// with <paramref name="fromRoot"/> a new one the caller disposes. A component that is a symlink or a file is the
    /// tree's error.
    /// </summary>
    private SafeFileHandle OpenDirectory(string path, string entryPath, bool fromRoot)
    {
        try
        {
            return fromRoot ? _open.OpenFromRoot(path) : _open.Open(path);
        }
        catch (IOException e) when (Posix.Errno(e) is Posix.ELOOP or Posix.ENOTDIR)
        {
            throw DirectoryNodeWriter.NotADirectory(path, entryPath, e);
        }
    }

    private void Skip(TreeEntry entry, string why)
    {
        _skippedEntries++;
        _skippedPaths.Add(entry.Path);
        Counters.Warn($"'{TreePath.Printable(entry.Path)}': {why}");
    }

    /// <inheritdoc />
    public override ValueTask CompleteAsync(CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_completed) return default;
        _open.Dispose();
        // Deepest first, so setting a directory's metadata never disturbs an ancestor's already-set times.
        for (int i = _directories.Count - 1; i >= 0; i--)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var entry = _directories[i];
            if (entry.Path.Length == 0)
            {
                _writer.ApplyTo(_target.Root, entry);
                continue;
            }
            using var directory = OpenDirectory(entry.Path, entry.Path, fromRoot: true);
            _writer.ApplyTo(directory, entry);
        }
        _target.Commit(cancellationToken);
        if (_skippedDevices > 0) Counters.Warn($"{_skippedDevices} device nodes not created (needs root)");
        if (SkippedOwners > 0) Counters.Warn($"owners of {SkippedOwners} entries not restored (needs root)");
        _xattrs.WarnUnreported();
        _completed = true;
        ReturnBuffer();
        return default;
    }

    /// <inheritdoc />
    protected override ValueTask DisposeAsyncCore()
    {
        if (_disposed) return default;
        _disposed = true;
        _open.Dispose();
        _target.Dispose();
        ReturnBuffer();
        return default;
    }

    private void ReturnBuffer()
    {
        if (_copyBuffer is not null) ArrayPool<byte>.Shared.Return(_copyBuffer);
        _copyBuffer = null;
    }
}
