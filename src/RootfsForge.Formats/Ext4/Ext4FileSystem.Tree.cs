using System.Buffers;
using System.Buffers.Binary;
using RootfsForge.Tree;

namespace RootfsForge.Ext4;

public sealed partial class Ext4FileSystem
{
    /// <summary>Directories with more entries than this are truncated with a warning (bounded memory).</summary>
    internal const int MaxDirectoryEntries = 8_000_000;

    /// <summary>Directories mapping more than this many bytes are refused (about 30 million entries; bounds reading time).</summary>
    internal const long MaxDirectoryBytes = 1L << 30;

    /// <summary>The longest symlink target read (PATH_MAX is 4096; ext4 allows up to a block).</summary>
    internal const int MaxSymlinkLength = 65536;


    private readonly record struct Child(string Name, byte[] NameBytes, uint Number, Inode? Inode);

    private sealed class Frame(string path, List<Child> children, int depth)
    {
        public string Path { get; } = path;
        public List<Child> Children { get; } = children;
        public int Depth { get; } = depth;
        public int Index { get; set; }
    }

    /// <inheritdoc />
    /// <remarks>
    /// The walk itself (directories, inodes, extent maps: metadata that a qcow2 image must decompress too) runs on its
    /// own thread, up to <see cref="LookaheadBytes"/> of file content (at most <see cref="LookaheadEntries"/> entries)
    /// ahead of the consumer. Once the consumer opens a file's content, the walk also hints the device to decode the
    /// content of the entries it holds (a qcow2 image decodes those clusters on the thread pool), so reading metadata,
    /// decompressing the next files and the consumer writing this one overlap. A consumer that never opens contents
    /// (inspect, ls) causes no content decoding. An error of the walk surfaces after the entries before it.
    /// </remarks>
    public async IAsyncEnumerable<TreeEntry> WalkAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        foreach (var entry in Walk(cancellationToken)) yield return entry;
        await Task.CompletedTask.ConfigureAwait(false);
    }

    internal IEnumerable<TreeEntry> Walk(CancellationToken cancellationToken = default)
    {
        using var ahead = new WalkAhead(this, cancellationToken);
        while (ahead.Take() is { } entry) yield return entry;
    }

    /// <summary>The walk proper, in <see cref="ITreeSource.WalkAsync"/> order, with each regular file's content opener.</summary>
    private IEnumerable<(TreeEntry Entry, ContentOpener? Content)> WalkInOrder(CancellationToken cancellationToken)
    {
        var root = ReadInode(RootInode);
        if (!root.IsDirectory)
            throw new ImageFormatException($"the root inode is not a directory (mode 0x{root.Mode:x4})", "ext4 inode 2");
        var visited = new HashSet<uint> { RootInode };
        var firstPath = new Dictionary<uint, string>();
        if (BuildEntry("", root, out _) is { } rootEntry) yield return (rootEntry, null);
        var stack = new Stack<Frame>();
        stack.Push(new Frame("", LoadChildrenSafe(root, ""), 0));
        while (stack.Count > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var frame = stack.Peek();
            if (frame.Index >= frame.Children.Count)
            {
                stack.Pop();
                continue;
            }
            var child = frame.Children[frame.Index++];
            if (child.Inode is not { } inode) continue;
            string path = frame.Path.Length == 0 ? child.Name : frame.Path + "/" + child.Name;

            if (inode.IsDirectory)
            {
                if (!visited.Add(child.Number))
                {
                    Warn($"{Display(path)}: directory inode {child.Number} was already visited (a directory hard link or cycle); skipped");
                    continue;
                }
                var entry = TryBuildEntry(path, inode, out _);
                if (entry is null) continue;
                yield return (entry, null);
                if (frame.Depth + 1 >= _options.MaxDepth)
                {
                    Warn($"{Display(path)}: deeper than {_options.MaxDepth} levels; its contents are skipped");
                    continue;
                }
                stack.Push(new Frame(path, LoadChildrenSafe(inode, path), frame.Depth + 1));
                continue;
            }

            if (inode.LinksCount > 1 && firstPath.TryGetValue(child.Number, out var first))
            {
                var original = TryBuildEntry(path, inode, out _);
                if (original is null) continue;
                yield return (new TreeEntry
                {
                    Path = path,
                    Type = EntryType.HardLink,
                    LinkTarget = first,
                    Permissions = original.Permissions,
                    Uid = original.Uid,
                    Gid = original.Gid,
                    ModificationTime = original.ModificationTime,
                    AccessTime = original.AccessTime,
                    ChangeTime = original.ChangeTime,
                    Size = original.Type == EntryType.RegularFile ? original.Size : 0,
                    InodeId = original.InodeId,
                    ExtendedAttributes = original.ExtendedAttributes,
                    OpenContent = original.OpenContent,
                }, null);
                continue;
            }
            var e = TryBuildEntry(path, inode, out var content, mapContent: true);
            if (e is null) continue;
            if (inode.LinksCount > 1) firstPath[child.Number] = path;
            yield return (e, content);
        }
    }

    /// <summary>
    /// The entry at <paramref name="path"/> ("" or "/" for the root), like lstat: a symlink in the middle of the path is
    /// not followed (the lookup fails), a symlink at the end is returned itself. Null when absent.
    /// </summary>
    public TreeEntry? GetEntry(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var (inode, normalized) = Resolve(path);
        return inode is null ? null : BuildEntry(normalized, inode, out _);
    }

    /// <summary>The entries of the directory at <paramref name="path"/>, sorted by name bytes (not recursive).</summary>
    /// <exception cref="DirectoryNotFoundException">The path does not exist or is not a directory.</exception>
    public IEnumerable<TreeEntry> ListDirectory(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var (inode, normalized) = Resolve(path);
        if (inode is null || !inode.IsDirectory) throw new DirectoryNotFoundException($"no directory '{path}' in the ext4 filesystem");
        var list = new List<TreeEntry>();
        foreach (var child in LoadChildren(inode, normalized))
        {
            if (child.Inode is null) continue;
            var e = TryBuildEntry(normalized.Length == 0 ? child.Name : normalized + "/" + child.Name, child.Inode, out _);
            if (e is not null) list.Add(e);
        }
        return list;
    }

    private (Inode? Inode, string Path) Resolve(string path)
    {
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var inode = ReadInode(RootInode);
        string current = "";
        foreach (var part in parts)
        {
            if (part == ".") continue;
            if (!inode.IsDirectory) return (null, "");
            byte[] name = FileNameEncoding.GetBytes(part);
            uint found = 0;
            foreach (var d in ReadDirectoryEntries(inode, current))
            {
                if (d.Name.AsSpan().SequenceEqual(name)) { found = d.Inode; break; }
            }
            if (found == 0 || part == "..") return (null, "");
            inode = ReadInode(found);
            current = current.Length == 0 ? part : current + "/" + part;
        }
        return (inode, current);
    }

    private List<Child> LoadChildrenSafe(Inode dir, string path)
    {
        try
        {
            return LoadChildren(dir, path);
        }
        catch (Ext4ChecksumException)
        {
            throw;
        }
        catch (ImageFormatException e)
        {
            Warn($"{Display(path)}: directory unreadable, its contents are skipped: {e.Message}");
            return [];
        }
    }

    /// <summary>Reads a directory's children: names checked, sorted by bytes, duplicates dropped, inodes read.</summary>
    private List<Child> LoadChildren(Inode dir, string path)
    {
        var unsorted = ReadDirectoryEntries(dir, path);
        // Byte order of names = ordinal order of their Latin-1 decodings (one char per byte): a fast BCL sort.
        var keys = new string[unsorted.Count];
        var raw = unsorted.ToArray();
        for (int i = 0; i < raw.Length; i++) keys[i] = System.Text.Encoding.Latin1.GetString(raw[i].Name);
        Array.Sort(keys, raw, StringComparer.Ordinal);
        var accepted = new List<(DirectoryEntry Entry, string Name)>(raw.Length);
        bool dot = false, dotdot = false;
        byte[]? previous = null;
        foreach (var d in raw)
        {
            var name = d.Name;
            if (name.Length == 1 && name[0] == (byte)'.')
            {
                if (dot) Warn($"{Display(path)}: extra '.' entry skipped");
                dot = true;
                continue;
            }
            if (name.Length == 2 && name[0] == (byte)'.' && name[1] == (byte)'.')
            {
                if (dotdot) Warn($"{Display(path)}: extra '..' entry skipped");
                dotdot = true;
                continue;
            }
            string display = FileNameEncoding.GetString(name);
            if (name.AsSpan().IndexOfAny((byte)'/', (byte)0) >= 0)
            {
                Warn($"{Display(path)}: entry named '{display.Replace("\0", "\\0")}' contains '/' or NUL; skipped");
                continue;
            }
            if (previous is not null && previous.AsSpan().SequenceEqual(name))
            {
                Warn($"{Display(path)}: duplicate entry '{display}' skipped");
                continue;
            }
            previous = name;
            if (d.Inode < Superblock.FirstIno && d.Inode != RootInode)
            {
                Warn($"{Display(Join(path, display))}: points at reserved inode {d.Inode}; skipped");
                continue;
            }
            accepted.Add((d, display));
        }

        // Read the inodes in inode-number order: name order jumps around the inode tables, inode order streams them.
        var order = new int[accepted.Count];
        var numbers = new uint[accepted.Count];
        for (int i = 0; i < order.Length; i++)
        {
            order[i] = i;
            numbers[i] = accepted[i].Entry.Inode;
        }
        Array.Sort(numbers, order);
        var inodes = new Inode?[accepted.Count];
        foreach (int i in order)
        {
            try
            {
                inodes[i] = ReadInode(accepted[i].Entry.Inode);
            }
            catch (Ext4ChecksumException)
            {
                throw;
            }
            catch (ImageFormatException e)
            {
                Warn($"{Display(Join(path, accepted[i].Name))}: skipped: {e.Message}");
            }
        }
        var children = new List<Child>(accepted.Count);
        for (int i = 0; i < accepted.Count; i++)
            children.Add(new Child(accepted[i].Name, accepted[i].Entry.Name, accepted[i].Entry.Inode, inodes[i]));
        return children;
    }

    private static string Join(string parent, string name) => parent.Length == 0 ? name : parent + "/" + name;

    private static string Display(string path) => "/" + path;

    /// <summary>All live entries of a directory in on-disk order (block or inline form), without checks on names.</summary>
    private List<DirectoryEntry> ReadDirectoryEntries(Inode dir, string path)
    {
        var list = new List<DirectoryEntry>();
        bool fileType = (Superblock.Incompat & IncompatFeatures.FileType) != 0;
        if (dir.HasFlag(Inode.Flag.Encrypt)) return list;
        if (dir.HasFlag(Inode.Flag.InlineData))
        {
            // §3.6: i_block[0..4] is the parent, i_block[4..60] one dirent area, system.data a second one.
            var area = dir.BlockArea[4..];
            string? problem = DirectoryEntry.ParseBlock(area, area.Length, fileType, list, MaxDirectoryEntries);
            if (problem is not null) Warn($"{Display(path)}: inline directory: {problem}; rest of the area skipped");
            var (_, systemData) = ReadInlineXattrs(dir, exportOnly: false);
            if (systemData is { Length: > 0 })
            {
                problem = DirectoryEntry.ParseBlock(systemData, systemData.Length, fileType, list, MaxDirectoryEntries);
                if (problem is not null) Warn($"{Display(path)}: inline directory (system.data): {problem}; rest skipped");
            }
            return list;
        }

        var map = GetDataMap(dir);
        int bs = BlockSize;
        long mapped = 0;
        foreach (var run in map.Runs) mapped += run.Count;
        if (mapped > MaxDirectoryBytes / bs)
            throw new ImageFormatException($"the directory maps {mapped} blocks, more than {MaxDirectoryBytes} bytes",
                $"ext4 inode {dir.Number} directory");
        const int chunkBlocks = 64;
        byte[] buf = ArrayPool<byte>.Shared.Rent(bs * chunkBlocks);
        try
        {
            uint seed = _verify ? InodeSeed(dir) : 0;
            // Htree internal blocks carry a dx_tail, not the leaf's dirent tail (DxNode); only indexed directories have them.
            bool indexed = dir.HasFlag(Inode.Flag.Index) && (Superblock.Compat & CompatFeatures.DirIndex) != 0;
            foreach (var run in map.Runs)
            {
                for (long b = 0; b < run.Count; b += chunkBlocks)
                {
                    int n = (int)Math.Min(chunkBlocks, run.Count - b);
                    var span = buf.AsSpan(0, n * bs);
                    ReadBlocks(run.Physical + b, span, $"ext4 inode {dir.Number} directory");
                    for (int i = 0; i < n; i++)
                    {
                        var block = span.Slice(i * bs, bs);
                        long logical = run.Logical + b + i;
                        if (_verify) VerifyDirectoryBlock(dir, seed, indexed, block, logical, (run.Physical + b + i) * bs);
                        string? problem = DirectoryEntry.ParseBlock(block, bs, fileType, list, MaxDirectoryEntries);
                        if (problem is not null)
                            Warn($"{Display(path)}: directory block {logical}: {problem}; rest of the block skipped");
                    }
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buf);
        }
        return list;
    }

    /// <summary>
    /// Checks one directory block's metadata_csum the way the kernel classifies it: an htree root or node (indexed directory,
    /// <see cref="DxNode.IsIndexBlock"/>) by its dx_tail, a leaf by its 12-byte dirent tail (§3.7) when it has one.
    /// </summary>
    private static void VerifyDirectoryBlock(Inode dir, uint seed, bool indexed, ReadOnlySpan<byte> block, long logical, long offset)
    {
        string what = $"ext4 inode {dir.Number} directory block {logical}";
        if (indexed && DxNode.IsIndexBlock(block, logical))
        {
            var (dxStored, dxComputed, problem) = DxNode.Checksums(seed, block);
            if (problem is not null) throw new Ext4ChecksumException($"no htree checksum: {problem}", what, offset);
            if (dxStored != dxComputed)
                throw new Ext4ChecksumException($"htree checksum mismatch (stored 0x{dxStored:x8}, computed 0x{dxComputed:x8})", what, offset);
            return;
        }
        if (!DirectoryEntry.HasTail(block)) return;
        int bs = block.Length;
        uint stored = BinaryPrimitives.ReadUInt32LittleEndian(block[(bs - DirectoryEntry.Tail.Size + DirectoryEntry.Tail.Checksum)..]);
        uint computed = Crc32C.Compute(seed, block[..(bs - DirectoryEntry.Tail.Size)]);
        if (stored != computed)
            throw new Ext4ChecksumException($"checksum mismatch (stored 0x{stored:x8}, computed 0x{computed:x8})", what, offset);
    }

    private TreeEntry? TryBuildEntry(string path, Inode inode, out ContentOpener? content, bool mapContent = false)
    {
        content = null;
        try
        {
            return BuildEntry(path, inode, out content, mapContent);
        }
        catch (Ext4ChecksumException)
        {
            throw;
        }
        catch (ImageFormatException e)
        {
            Warn($"{Display(path)}: skipped: {e.Message}");
            return null;
        }
    }

    /// <param name="path">The entry's path.</param>
    /// <param name="inode">Its inode.</param>
    /// <param name="content">A regular file's content opener (null for other types).</param>
    /// <param name="mapContent">
    /// Map a regular file's blocks now (the walk does, so one damaged file is skipped with a warning instead of failing
    /// the consumer mid-stream, and its content can be prefetched); lookups map lazily.
    /// </param>
    private TreeEntry? BuildEntry(string path, Inode inode, out ContentOpener? content, bool mapContent = false)
    {
        content = null;
        if (inode.HasFlag(Inode.Flag.Encrypt))
        {
            Warn($"{Display(path)}: encrypted inode {inode.Number} skipped (contents and names are ciphertext)");
            return null;
        }
        EntryType type = inode.Type switch
        {
            Inode.ModeType.Dir => EntryType.Directory,
            Inode.ModeType.Reg => EntryType.RegularFile,
            Inode.ModeType.Lnk => EntryType.SymbolicLink,
            Inode.ModeType.Chr => EntryType.CharacterDevice,
            Inode.ModeType.Blk => EntryType.BlockDevice,
            Inode.ModeType.Fifo => EntryType.Fifo,
            Inode.ModeType.Sock => EntryType.Socket,
            _ => throw new ImageFormatException($"unknown file type in mode 0x{inode.Mode:x4}", $"ext4 inode {inode.Number}"),
        };
        var xattrs = ReadXattrs(inode);
        long size = 0;
        string? target = null;
        uint major = 0, minor = 0;
        Func<FileContent>? open = null;
        switch (type)
        {
            case EntryType.RegularFile:
                if (inode.Size > long.MaxValue / 2)
                    throw new ImageFormatException($"i_size {inode.Size} is absurd", $"ext4 inode {inode.Number}");
                size = (long)inode.Size;
                var opener = new ContentOpener(this, inode);
                if (mapContent) opener.Prepare();
                open = opener.Open;
                content = opener;
                break;
            case EntryType.SymbolicLink:
                target = FileNameEncoding.GetString(ReadSymlink(inode));
                size = FileNameEncoding.GetBytes(target).Length;
                break;
            case EntryType.CharacterDevice or EntryType.BlockDevice:
                (major, minor) = DeviceNumber.Decode(inode.BlockArea);
                break;
        }
        return new TreeEntry
        {
            Path = path,
            Type = type,
            Permissions = inode.Mode & 0xFFF,
            Uid = inode.Uid,
            Gid = inode.Gid,
            ModificationTime = inode.Mtime,
            AccessTime = inode.Atime,
            ChangeTime = inode.Ctime,
            Size = size,
            DeviceMajor = major,
            DeviceMinor = minor,
            LinkTarget = target,
            InodeId = inode.Number,
            ExtendedAttributes = xattrs,
            OpenContent = open,
        };
    }

    /// <summary>Opens content, mapping the blocks once per entry.</summary>
    private sealed class ContentOpener(Ext4FileSystem fs, Inode inode)
    {
        private DataMap? _map;
        private byte[]? _inline;

        /// <summary>Maps the blocks (or reads the inline data) now.</summary>
        public void Prepare()
        {
            if (inode.HasFlag(Inode.Flag.InlineData)) _inline ??= fs.ReadInlineData(inode, sizeMayExceed: true);
            else _map ??= fs.GetDataMap(inode);
        }

        /// <summary>The bytes of written blocks a reader will fetch from the device, at most <paramref name="limit"/>.</summary>
        public long ContentBytes(long limit)
        {
            if (_map is null) return 0;
            long total = 0;
            foreach (var run in _map.Runs)
            {
                total += RunBytes(run);
                if (total >= limit) return limit;
            }
            return total;
        }

        /// <summary>Hints the device to decode the first <paramref name="limit"/> bytes of written blocks.</summary>
        public void Prefetch(long limit)
        {
            if (_map is null) return;
            long left = limit;
            foreach (var run in _map.Runs)
            {
                if (left <= 0) return;
                if ((ulong)(run.Physical + run.Count) > fs.Superblock.BlocksCount) return; // the reader will warn
                long bytes = Math.Min(RunBytes(run), left);
                if (bytes <= 0) continue;
                fs.Device.Prefetch(run.Physical * fs.BlockSize, bytes);
                left -= bytes;
            }
        }

        private long RunBytes(BlockRun run) =>
            Math.Min(run.Count * fs.BlockSize, _map!.Size - run.Logical * fs.BlockSize);

        public FileContent Open()
        {
            Volatile.Write(ref fs._contentOpened, true);
            if (inode.HasFlag(Inode.Flag.InlineData))
                return new Ext4InlineContent(_inline ??= fs.ReadInlineData(inode, sizeMayExceed: true), (long)inode.Size);
            _map ??= fs.GetDataMap(inode);
            return new Ext4FileContent(fs.Device, _map, fs.BlockSize, fs.Superblock.BlocksCount);
        }
    }

    /// <summary>The symlink target bytes, deciding the storage form as §3.9 orders it.</summary>
    private byte[] ReadSymlink(Inode inode)
    {
        string what = $"ext4 inode {inode.Number} symlink";
        if (inode.Size > MaxSymlinkLength) throw new ImageFormatException($"symlink length {inode.Size} exceeds {MaxSymlinkLength}", what);
        int size = (int)inode.Size;
        if (inode.HasFlag(Inode.Flag.InlineData)) return ReadInlineData(inode);
        bool fast;
        if ((Superblock.Incompat & IncompatFeatures.EaInode) != 0)
        {
            // i_blocks may count EA-inode references here, so only the size can tell (§3.9).
            fast = size > 0 && size < Inode.BlockAreaSize;
        }
        else
        {
            ulong xattrBlocks = inode.FileAcl != 0 ? (ulong)(Superblock.ClusterSize / 512) : 0;
            fast = inode.Blocks512 <= xattrBlocks;
        }
        if (fast)
        {
            if (size > Inode.BlockAreaSize) throw new ImageFormatException($"fast symlink length {size} exceeds 60 bytes", what);
            return inode.BlockArea[..size].ToArray();
        }
        var map = GetDataMap(inode);
        using var content = new Ext4FileContent(Device, map, BlockSize, Superblock.BlocksCount);
        var bytes = new byte[size];
        content.ReadExactlyAt(0, bytes);
        return bytes;
    }

    /// <summary>
    /// Inline data (§3.6): i_block up to 60 bytes, then the system.data value, up to i_size. An i_size past that area is an
    /// error unless <paramref name="sizeMayExceed"/> (regular files: the rest reads as zeros, see
    /// <see cref="Ext4InlineContent"/>); then only the inline bytes are returned.
    /// </summary>
    internal byte[] ReadInlineData(Inode inode, bool sizeMayExceed = false)
    {
        string what = $"ext4 inode {inode.Number} inline data";
        var (_, systemData) = ReadInlineXattrs(inode, exportOnly: false);
        int room = Inode.BlockAreaSize + (systemData?.Length ?? 0);
        if (inode.Size > (ulong)room && !sizeMayExceed)
            throw new ImageFormatException($"i_size {inode.Size} exceeds the {room} bytes of inline data", what);
        int size = (int)Math.Min(inode.Size, (ulong)room);
        var result = new byte[size];
        int first = Math.Min(size, Inode.BlockAreaSize);
        inode.BlockArea[..first].CopyTo(result);
        if (size > first) systemData.AsSpan(0, size - first).CopyTo(result.AsSpan(first));
        return result;
    }
}
