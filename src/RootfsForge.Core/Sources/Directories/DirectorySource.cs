using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using RootfsForge.IO;
using RootfsForge.Tree;

namespace RootfsForge.Sources.Directories;

/// <summary>
/// Walks a real directory as a tree: <c>statx</c> without following symlinks, <c>llistxattr</c>/<c>lgetxattr</c>,
/// <c>readlinkat</c>, names as bytes (so non-UTF-8 names survive), hard links found by (device, inode), holes found by
/// <c>SEEK_DATA</c>/<c>SEEK_HOLE</c>. Directories are opened relative to their parent with <c>O_NOFOLLOW</c>, so symlinks
/// are never followed; mount points are not crossed unless the options say so. Linux only.
/// </summary>
public sealed class DirectorySource : ITreeSource
{
    private const int MaxXattrListSize = 1 << 20;
    private readonly string _root;
    private readonly byte[] _rootBytes;
    private readonly DirectorySourceOptions _options;
    private readonly List<string> _warnings = [];

    /// <summary>Creates a source for the directory <paramref name="root"/>.</summary>
    public DirectorySource(string root, DirectorySourceOptions? options = null)
    {
        _root = Path.GetFullPath(root);
        _rootBytes = FileNameEncoding.GetBytes(_root);
        _options = options ?? new DirectorySourceOptions();
        if (!System.IO.Directory.Exists(_root)) throw new DirectoryNotFoundException($"source directory '{_root}' does not exist");
    }

    /// <inheritdoc />
    public IReadOnlyList<string> Warnings => _warnings;

    /// <inheritdoc />
    public async IAsyncEnumerable<TreeEntry> WalkAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        foreach (var entry in Walk(cancellationToken)) yield return entry;
        await Task.CompletedTask.ConfigureAwait(false);
    }

    internal IEnumerable<TreeEntry> Walk(CancellationToken cancellationToken = default)
    {
        var rootFd = OpenDirectory(Posix.AT_FDCWD, Posix.CString(_rootBytes), _root, follow: true);
        var frames = new Stack<Frame>();
        var links = new Dictionary<(uint, uint, ulong), string>();
        try
        {
            var rootStat = Stat(rootFd, [], "/", emptyPath: true);
            var rootEntry = MakeEntry(rootFd, [], "", rootStat, isRoot: true);
            yield return rootEntry;
            frames.Push(new Frame(rootFd, "", ReadSortedNames(rootFd, "/")));
            rootFd = -1;
            while (frames.Count > 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var frame = frames.Peek();
                if (frame.Index >= frame.Names.Count)
                {
                    Posix.close(frame.Fd);
                    frames.Pop();
                    continue;
                }
                var name = frame.Names[frame.Index++];
                string path = frame.Path.Length == 0 ? FileNameEncoding.GetString(name) : frame.Path + "/" + FileNameEncoding.GetString(name);
                Posix.Statx st;
                try
                {
                    st = Stat(frame.Fd, name, path, emptyPath: false);
                }
                catch (FileNotFoundException)
                {
                    _warnings.Add($"'{path}' vanished during the walk");
                    continue;
                }
                uint type = st.Mode & Posix.S_IFMT;
                if (type != Posix.S_IFDIR && st.LinkCount > 1)
                {
                    var key = (st.DevMajor, st.DevMinor, st.Inode);
                    if (links.TryGetValue(key, out var first))
                    {
                        yield return new TreeEntry
                        {
                            Path = path, Type = EntryType.HardLink, LinkTarget = first, Permissions = st.Mode & 0xFFF,
                            Uid = st.Uid, Gid = st.Gid, Size = type == Posix.S_IFREG ? (long)st.Size : 0,
                            ModificationTime = Time(st.ModificationTime), AccessTime = Time(st.AccessTime),
                            ChangeTime = Time(st.ChangeTime), InodeId = (long)st.Inode,
                            OpenContent = type == Posix.S_IFREG ? OpenerFor(path) : null,
                        };
                        continue;
                    }
                    links[key] = path;
                }
                var entry = MakeEntry(frame.Fd, name, path, st, isRoot: false);
                yield return entry;
                if (entry.Type != EntryType.Directory) continue;
                if (!_options.CrossMountPoints && (st.DevMajor != rootStat.DevMajor || st.DevMinor != rootStat.DevMinor))
                {
                    _warnings.Add($"'{path}' is a mount point; its contents were not read");
                    continue;
                }
                int fd = OpenDirectory(frame.Fd, Posix.CString(name), path, follow: false);
                try
                {
                    frames.Push(new Frame(fd, path, ReadSortedNames(fd, path)));
                }
                catch
                {
                    Posix.close(fd);
                    throw;
                }
            }
        }
        finally
        {
            if (rootFd >= 0) Posix.close(rootFd);
            while (frames.Count > 0) Posix.close(frames.Pop().Fd);
        }
    }

    private sealed class Frame(int fd, string path, List<byte[]> names)
    {
        public int Fd { get; } = fd;
        public string Path { get; } = path;
        public List<byte[]> Names { get; } = names;
        public int Index { get; set; }
    }

    private static List<byte[]> ReadSortedNames(int fd, string path)
    {
        var names = Posix.ReadDirectory(fd, path);
        names.Sort((a, b) => a.AsSpan().SequenceCompareTo(b));
        return names;
    }

    private TreeEntry MakeEntry(int parentFd, byte[] name, string path, in Posix.Statx st, bool isRoot)
    {
        uint type = st.Mode & Posix.S_IFMT;
        var kind = type switch
        {
            Posix.S_IFDIR => EntryType.Directory,
            Posix.S_IFREG => EntryType.RegularFile,
            Posix.S_IFLNK => EntryType.SymbolicLink,
            Posix.S_IFCHR => EntryType.CharacterDevice,
            Posix.S_IFBLK => EntryType.BlockDevice,
            Posix.S_IFIFO => EntryType.Fifo,
            _ => EntryType.Socket,
        };
        string? target = kind == EntryType.SymbolicLink ? ReadLink(parentFd, name, path) : null;
        return new TreeEntry
        {
            Path = path,
            Type = kind,
            Permissions = st.Mode & 0xFFF,
            Uid = st.Uid,
            Gid = st.Gid,
            ModificationTime = Time(st.ModificationTime),
            AccessTime = Time(st.AccessTime),
            ChangeTime = Time(st.ChangeTime),
            Size = kind is EntryType.RegularFile or EntryType.SymbolicLink ? (long)st.Size : 0,
            DeviceMajor = kind is EntryType.CharacterDevice or EntryType.BlockDevice ? st.RdevMajor : 0,
            DeviceMinor = kind is EntryType.CharacterDevice or EntryType.BlockDevice ? st.RdevMinor : 0,
            LinkTarget = target,
            InodeId = (long)st.Inode,
            ExtendedAttributes = _options.ReadExtendedAttributes ? ReadXattrs(isRoot ? Posix.CString(_rootBytes) : Posix.ProcPath(parentFd, name), path) : [],
            OpenContent = kind == EntryType.RegularFile ? OpenerFor(path) : null,
        };
    }

    private Func<FileContent> OpenerFor(string path)
    {
        var full = new byte[_rootBytes.Length + 1 + FileNameEncoding.GetBytes(path).Length];
        _rootBytes.CopyTo(full, 0);
        full[_rootBytes.Length] = (byte)'/';
        FileNameEncoding.GetBytes(path).CopyTo(full, _rootBytes.Length + 1);
        return () => DirectoryFileContent.Open(full, path);
    }

    private static UnixTime Time(Posix.StatxTimestamp t) => new(t.Seconds, t.Nanoseconds);

    private static unsafe Posix.Statx Stat(int dirfd, byte[] name, string path, bool emptyPath)
    {
        Posix.Statx st;
        fixed (byte* n = Posix.CString(name))
        {
            int flags = Posix.AT_SYMLINK_NOFOLLOW | (emptyPath ? Posix.AT_EMPTY_PATH : 0);
            if (Posix.statx(dirfd, n, flags, Posix.STATX_BASIC_STATS, &st) != 0)
            {
                int e = Posix.LastError;
                if (e == Posix.ENOENT) throw new FileNotFoundException(path);
                throw Posix.Error("statx", path, e);
            }
        }
        return st;
    }

    private static unsafe int OpenDirectory(int dirfd, byte[] nameZ, string path, bool follow)
    {
        fixed (byte* n = nameZ)
        {
            int fd = Posix.openat(dirfd, n, Posix.O_RDONLY | Posix.O_DIRECTORY | Posix.O_CLOEXEC | (follow ? 0 : Posix.O_NOFOLLOW), 0);
            if (fd < 0) throw Posix.Error("open directory", path, Posix.LastError);
            return fd;
        }
    }

    private static unsafe string ReadLink(int dirfd, byte[] name, string path)
    {
        var buf = new byte[4096];
        while (true)
        {
            nint n;
            fixed (byte* p = Posix.CString(name))
            fixed (byte* b = buf)
                n = Posix.readlinkat(dirfd, p, b, (nuint)buf.Length);
            if (n < 0) throw Posix.Error("readlink", path, Posix.LastError);
            if (n < buf.Length) return FileNameEncoding.GetString(buf.AsSpan(0, (int)n));
            if (buf.Length >= 1 << 20) throw new IOException($"symlink '{path}' target is longer than 1 MiB");
            buf = new byte[buf.Length * 4];
        }
    }

    private unsafe IReadOnlyList<ExtendedAttribute> ReadXattrs(byte[] pathZ, string path)
    {
        nint size;
        fixed (byte* p = pathZ) size = Posix.llistxattr(p, null, 0);
        if (size < 0)
        {
            int e = Posix.LastError;
            if (e is Posix.ENOTSUP or Posix.EPERM or Posix.EACCES) return [];
            throw Posix.Error("llistxattr", path, e);
        }
        if (size == 0) return [];
        var list = new byte[Math.Min((long)size * 2 + 256, MaxXattrListSize)];
        fixed (byte* p = pathZ)
        fixed (byte* l = list)
            size = Posix.llistxattr(p, l, (nuint)list.Length);
        if (size < 0) throw Posix.Error("llistxattr", path, Posix.LastError);
        var result = new List<ExtendedAttribute>();
        var names = list.AsSpan(0, (int)size);
        while (names.Length > 0)
        {
            int end = names.IndexOf((byte)0);
            if (end < 0) end = names.Length;
            var nameBytes = names[..end];
            names = end < names.Length ? names[(end + 1)..] : [];
            if (nameBytes.Length == 0) continue;
            var value = GetXattr(pathZ, nameBytes, path);
            if (value is not null) result.Add(new ExtendedAttribute(System.Text.Encoding.UTF8.GetString(nameBytes), value));
        }
        result.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return result;
    }

    private unsafe byte[]? GetXattr(byte[] pathZ, ReadOnlySpan<byte> name, string path)
    {
        var nameZ = Posix.CString(name);
        for (int attempt = 0; attempt < 4; attempt++)
        {
            nint size;
            fixed (byte* p = pathZ)
            fixed (byte* k = nameZ)
                size = Posix.lgetxattr(p, k, null, 0);
            if (size < 0)
            {
                int e = Posix.LastError;
                if (e == Posix.ENODATA) return null;
                throw Posix.Error("lgetxattr " + System.Text.Encoding.UTF8.GetString(name), path, e);
            }
            var value = new byte[size];
            fixed (byte* p = pathZ)
            fixed (byte* k = nameZ)
            fixed (byte* v = value)
                size = Posix.lgetxattr(p, k, v, (nuint)value.Length);
            if (size >= 0) return size == value.Length ? value : value.AsSpan(0, (int)size).ToArray();
            if (Posix.LastError != Posix.ERANGE) throw Posix.Error("lgetxattr", path, Posix.LastError);
        }
        _warnings.Add($"xattr {System.Text.Encoding.UTF8.GetString(name)} of '{path}' kept changing size; skipped");
        return null;
    }

    /// <summary>A regular file of the directory, read with pread; holes from SEEK_DATA/SEEK_HOLE.</summary>
    private sealed class DirectoryFileContent : FileContent
    {
        private readonly SafeFileHandle _handle;
        private readonly long _length;

        private DirectoryFileContent(SafeFileHandle handle, long length)
        {
            _handle = handle;
            _length = length;
        }

        public static unsafe DirectoryFileContent Open(byte[] fullPath, string path)
        {
            int fd;
            fixed (byte* p = Posix.CString(fullPath))
                fd = Posix.openat(Posix.AT_FDCWD, p, Posix.O_RDONLY | Posix.O_NOFOLLOW | Posix.O_CLOEXEC | Posix.O_NOCTTY, 0);
            if (fd < 0) throw Posix.Error("open", path, Posix.LastError);
            var handle = new SafeFileHandle(fd, ownsHandle: true);
            long length = Posix.lseek(fd, 0, 2);
            if (length < 0)
            {
                int e = Posix.LastError;
                handle.Dispose();
                throw Posix.Error("lseek", path, e);
            }
            return new DirectoryFileContent(handle, length);
        }

        public override long Length => _length;

        public override IReadOnlyList<DataSegment> GetDataSegments()
        {
            var result = new List<DataSegment>();
            int fd = (int)_handle.DangerousGetHandle();
            long pos = 0;
            while (pos < _length)
            {
                long data = Posix.lseek(fd, pos, Posix.SEEK_DATA);
                if (data < 0)
                {
                    int e = Posix.LastError;
                    if (e == Posix.ENXIO) break; // only a hole remains
                    return [new DataSegment(0, _length)]; // SEEK_DATA unsupported: everything is data
                }
                if (data >= _length) break;
                long hole = Posix.lseek(fd, data, Posix.SEEK_HOLE);
                if (hole < 0 || hole > _length) hole = _length;
                if (hole <= data) hole = _length; // defensive: always make progress
                result.Add(new DataSegment(data, hole - data));
                pos = hole;
            }
            return result;
        }

        public override ValueTask<int> ReadAtAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default) =>
            new(ReadAt(offset, destination.Span));

        private int ReadAt(long offset, Span<byte> destination)
        {
            if (offset >= _length) return 0;
            if (destination.Length > _length - offset) destination = destination[..(int)(_length - offset)];
            return RandomAccess.Read(_handle, destination, offset);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) _handle.Dispose();
            base.Dispose(disposing);
        }
    }
}
