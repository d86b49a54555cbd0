using System.Security.Cryptography;
using System.Text;
using RootfsForge.NativeTests.Support;
using RootfsForge.Tree;

namespace RootfsForge.NativeTests.Sinks;

/// <summary>FileContent with holes: data only in the given segments, generated from a seed (no memory for the holes).</summary>
internal sealed class SparseContent(long length, IReadOnlyList<DataSegment> segments, int seed = 1) : FileContent
{
    public override long Length => length;

    public override IReadOnlyList<DataSegment> GetDataSegments() => segments;

    public override ValueTask<int> ReadAtAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default) =>
        new(ReadAt(offset, destination.Span));

    private int ReadAt(long offset, Span<byte> destination)
    {
        if (offset >= length) return 0;
        int n = (int)Math.Min(destination.Length, length - offset);
        for (int i = 0; i < n; i++) destination[i] = ByteAt(offset + i);
        return n;
    }

    public byte ByteAt(long pos)
    {
        foreach (var s in segments)
        {
            if (pos >= s.Offset && pos < s.End) return (byte)(((pos * 31) ^ seed ^ (pos >> 9)) % 251 + 1);
        }
        return 0;
    }

    /// <summary>SHA-256 of the whole content (holes as zeros) computed without materialising it.</summary>
    public string Sha256()
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var zeros = new byte[1 << 20];
        var buf = new byte[1 << 16];
        long pos = 0;
        foreach (var s in segments.Append(new DataSegment(length, 0)))
        {
            while (pos < s.Offset)
            {
                int n = (int)Math.Min(zeros.Length, s.Offset - pos);
                h.AppendData(zeros, 0, n);
                pos += n;
            }
            while (pos < s.End)
            {
                int n = (int)Math.Min(buf.Length, s.End - pos);
                this.ReadExactlyAt(pos, buf.AsSpan(0, n));
                h.AppendData(buf, 0, n);
                pos += n;
            }
        }
        return Convert.ToHexStringLower(h.GetHashAndReset());
    }
}

/// <summary>Content that throws after some bytes, like a corrupt image discovered midway.</summary>
internal sealed class FailingContent(long length, long failAt) : FileContent
{
    public override long Length => length;

    public override IReadOnlyList<DataSegment> GetDataSegments() => [new DataSegment(0, length)];

    public override ValueTask<int> ReadAtAsync(long offset, Memory<byte> destination, CancellationToken cancellationToken = default) =>
        new(ReadAt(offset, destination.Span));

    private int ReadAt(long offset, Span<byte> destination)
    {
        if (offset + destination.Length > failAt) throw new ImageFormatException("simulated corruption", "test content", offset);
        destination.Fill(0x5A);
        return destination.Length;
    }
}

/// <summary>Trees used by the sink tests and their expected dump (the format of <see cref="TreeDump"/>).</summary>
internal static class SampleTrees
{
    // docs/disk-formats.md §3.8: ACL u:mail:r in the Linux xattr v2 form.
    public static readonly byte[] AclAccess = Convert.FromHexString(
        "02000000" + "01000600ffffffff" + "0200040008000000" + "04000400ffffffff" + "10000400ffffffff" + "20000400ffffffff");

    // security.capability v2 (revision 2 | effective), permitted cap_net_raw (bit 13).
    public static readonly byte[] CapNetRaw = Convert.FromHexString("0100000200200000000000000000000000000000");

    public static readonly string NonUtf8Name = FileNameEncoding.GetString([0x66, 0xff, 0xfe, 0x2e, 0x62, 0x69, 0x6e]);

    public static TreeEntry Dir(string path, int perm = 0x1ED, long mtime = 1_600_000_000, uint uid = 0, uint gid = 0,
        IReadOnlyList<ExtendedAttribute>? xattrs = null) => new()
    {
        Path = path, Type = EntryType.Directory, Permissions = perm, Uid = uid, Gid = gid,
        ModificationTime = new UnixTime(mtime, 0), AccessTime = new UnixTime(mtime, 0), ExtendedAttributes = xattrs ?? [],
    };

    public static TreeEntry File(string path, byte[] data, int perm = 0x1A4, UnixTime? mtime = null, uint uid = 0,
        uint gid = 0, IReadOnlyList<ExtendedAttribute>? xattrs = null) => new()
    {
        Path = path, Type = EntryType.RegularFile, Permissions = perm, Uid = uid, Gid = gid, Size = data.Length,
        ModificationTime = mtime ?? new UnixTime(1_600_000_000, 0), AccessTime = mtime ?? new UnixTime(1_600_000_000, 0),
        ExtendedAttributes = xattrs ?? [], OpenContent = () => FileContent.FromBytes(data),
    };

    public static TreeEntry Content(string path, Func<FileContent> open, long size, int perm = 0x1A4) => new()
    {
        Path = path, Type = EntryType.RegularFile, Permissions = perm, Size = size,
        ModificationTime = new UnixTime(1_600_000_000, 0), AccessTime = new UnixTime(1_600_000_000, 0), OpenContent = open,
    };

    public static TreeEntry Symlink(string path, string target, uint uid = 0) => new()
    {
        Path = path, Type = EntryType.SymbolicLink, Permissions = 0x1FF, Uid = uid, LinkTarget = target,
        Size = FileNameEncoding.GetBytes(target).Length,
        ModificationTime = new UnixTime(1_500_000_000, 123_000_000), AccessTime = new UnixTime(1_500_000_000, 0),
    };

    public static TreeEntry HardLink(string path, string target) => new()
    {
        Path = path, Type = EntryType.HardLink, Permissions = 0x1A4, LinkTarget = target,
        ModificationTime = new UnixTime(1_600_000_000, 0),
    };

    public static TreeEntry Node(string path, EntryType type, uint major = 0, uint minor = 0, int perm = 0x1B0) => new()
    {
        Path = path, Type = type, Permissions = perm, DeviceMajor = major, DeviceMinor = minor, Uid = 0, Gid = 6,
        ModificationTime = new UnixTime(1_400_000_000, 5), AccessTime = new UnixTime(1_400_000_000, 0),
    };

    /// <summary>
    /// Every feature the tar and directory sinks must carry, in walk order (parents first, children sorted by bytes).
    /// <paramref name="withDevices"/> adds device nodes; <paramref name="withSocket"/> a socket.
    /// </summary>
    public static List<TreeEntry> Full(bool withDevices = true, bool withSocket = false)
    {
        string longDir = "d" + new string('x', 120);
        string name255 = new('n', 255);
        string longTarget = "/" + string.Join('/', Enumerable.Repeat("target-component", 12));
        var sparse = new[] { new DataSegment(8192, 4096), new DataSegment(1 << 20, 100) };
        var list = new List<TreeEntry>
        {
            Dir("", 0x1ED, 1_700_000_000),
            File("a-ns", Encoding.ASCII.GetBytes("nanoseconds\n"), mtime: new UnixTime(1_700_000_000, 987_654_321)),
            File("b-1960", "old\n"u8.ToArray(), mtime: new UnixTime(-315_619_200, 250_000_000)),
            File("b-1960-whole", "old\n"u8.ToArray(), mtime: new UnixTime(-315_619_200, 0)),
            File("c-2345", "future\n"u8.ToArray(), mtime: new UnixTime(11_847_456_550, 0)),
            File("caps", "#!/bin/true\n"u8.ToArray(), 0x1ED, xattrs: [new ExtendedAttribute("security.capability", CapNetRaw)]),
            Dir(longDir, 0x1C0, uid: 1000, gid: 1000),
            File(longDir + "/" + new string('y', 60), "long path\n"u8.ToArray()),
            Dir("etc", 0x1ED, xattrs: [new ExtendedAttribute("user.dir", "dirattr"u8.ToArray())]),
            File("etc/acl-file", "acl\n"u8.ToArray(), 0x1A4,
                xattrs: [new ExtendedAttribute("system.posix_acl_access", AclAccess), new ExtendedAttribute("user.bin", [0, 1, 2, 0xff, 0x0a, 0x3d])]),
            File("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"u8.ToArray()),
            File("f-biguid", "big\n"u8.ToArray(), uid: 4_000_000_000, gid: 3_000_000_000),
            File("g-empty", [], 0x180),
            File("h-setuid", "suid\n"u8.ToArray(), 0xDED, uid: 0, gid: 0),
            HardLink("i-hardlink", "etc/passwd"),
            File(name255, "255\n"u8.ToArray()),
            Content("s-allholes", () => new SparseContent(1 << 20, []), 1 << 20),
            Content("s-sparse", () => new SparseContent(3 << 20, sparse), 3 << 20),
            Symlink("t-longlink", longTarget),
            Symlink("u-symlink", "etc/passwd", uid: 7),
            Dir("v-sticky", 0x3FF),
            File(NonUtf8Name, "latin1\n"u8.ToArray()),
        };
        if (withDevices)
        {
            list.Insert(6, Node("dev-big-major", EntryType.CharacterDevice, 4093, 0));
            list.Insert(7, Node("dev-big-minor", EntryType.BlockDevice, 0, 1023997));
            list.Insert(8, Node("dev-fifo", EntryType.Fifo));
        }
        if (withSocket) list.Insert(list.FindIndex(e => e.Path == "u-symlink") + 1, Node("u-socket", EntryType.Socket, perm: 0x1ED));
        list.Sort((a, b) => ComparePaths(a.Path, b.Path));
        return list;
    }

    /// <summary>Walk order: component-wise by bytes, so a parent precedes its children.</summary>
    public static int ComparePaths(string a, string b)
    {
        var pa = a.Length == 0 ? [] : a.Split('/');
        var pb = b.Length == 0 ? [] : b.Split('/');
        for (int i = 0; i < Math.Min(pa.Length, pb.Length); i++)
        {
            int c = FileNameEncoding.CompareBytes(pa[i], pb[i]);
            if (c != 0) return c;
        }
        return pa.Length.CompareTo(pb.Length);
    }
}
