using System.Security.Cryptography;
using RootfsForge.Tree;

namespace RootfsForge.NativeTests.Flist;

/// <summary>In-memory trees in ITreeSource order and a canonical view for comparing trees.</summary>
internal static class TreeFixtures
{
    public static readonly UnixTime T0 = new(1_700_000_000, 123_456_789);

    public static byte[] Random(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    /// <summary>Text-like content that compresses (repeats).</summary>
    public static byte[] Text(int length, int seed)
    {
        var b = new byte[length];
        var words = new[] { "alpha ", "beta ", "gamma\n", "delta ", "epsilon ", $"seed{seed} " };
        var r = new Random(seed);
        int i = 0;
        while (i < length)
        {
            var w = words[r.Next(words.Length)];
            for (int k = 0; k < w.Length && i < length; k++) b[i++] = (byte)w[k];
        }
        return b;
    }

    public static TreeEntry Dir(string path, int perms = 0x1ED, uint uid = 0, uint gid = 0) => new()
    {
        Path = path, Type = EntryType.Directory, Permissions = perms, Uid = uid, Gid = gid, ModificationTime = T0,
        AccessTime = T0, ChangeTime = T0,
    };

    public static TreeEntry File(string path, byte[] content, int perms = 0x1A4, uint uid = 1000, uint gid = 100,
        IReadOnlyList<ExtendedAttribute>? xattrs = null) => new()
    {
        Path = path, Type = EntryType.RegularFile, Permissions = perms, Uid = uid, Gid = gid, Size = content.Length,
        ModificationTime = T0, AccessTime = T0, ChangeTime = new UnixTime(T0.Seconds + 50, 0),
        OpenContent = () => FileContent.FromBytes(content), ExtendedAttributes = xattrs ?? [],
    };

    public static TreeEntry Symlink(string path, string target) => new()
    {
        Path = path, Type = EntryType.SymbolicLink, Permissions = 0x1FF, LinkTarget = target, Size = target.Length,
        ModificationTime = T0,
    };

    public static TreeEntry HardLink(string path, TreeEntry target) => new()
    {
        Path = path, Type = EntryType.HardLink, Permissions = target.Permissions, Uid = target.Uid, Gid = target.Gid,
        LinkTarget = target.Path, Size = target.Size, ModificationTime = target.ModificationTime,
        OpenContent = target.OpenContent,
    };

    public static TreeEntry Device(string path, EntryType type, uint major, uint minor) => new()
    {
        Path = path, Type = type, Permissions = 0x1B0, DeviceMajor = major, DeviceMinor = minor, ModificationTime = T0,
    };

    /// <summary>Sorts entries into ITreeSource walk order (parents first, siblings by name bytes).</summary>
    public static List<TreeEntry> InWalkOrder(IEnumerable<TreeEntry> entries) =>
        entries.OrderBy(e => e.Path, Comparer<string>.Create(ComparePaths)).ToList();

    private static int ComparePaths(string a, string b)
    {
        if (a == b) return 0;
        if (a.Length == 0) return -1;
        if (b.Length == 0) return 1;
        var pa = a.Split('/');
        var pb = b.Split('/');
        for (int i = 0; i < Math.Min(pa.Length, pb.Length); i++)
        {
            int c = FileNameEncoding.CompareBytes(pa[i], pb[i]);
            if (c != 0) return c;
        }
        return pa.Length.CompareTo(pb.Length);
    }

    /// <summary>
    /// The sample tree of the round-trip tests: empty file, exactly 512 KiB, 512 KiB + 1, multi-MiB (random and
    /// compressible), setuid, symlinks, a hard link, devices, a FIFO, a socket and a file with capabilities.
    /// </summary>
    public static List<TreeEntry> SampleTree(int seed = 1)
    {
        var big = File("data/big.bin", Random(3 * 524_288 + 12_345, seed), 0x1ED);
        var entries = new List<TreeEntry>
        {
            Dir("", 0x1ED),
            Dir("data", 0x1E8, 1000, 100),
            big,
            File("data/empty", []),
            File("data/exact", Random(524_288, seed + 1)),
            File("data/exact+1", Text(524_289, seed + 2)),
            File("data/text.txt", Text(2 * 1024 * 1024 + 7, seed + 3)),
            HardLink("data/z-link-to-big", big),
            Dir("etc"),
            File("etc/shells", "# /etc/shells\n/bin/sh\n"u8.ToArray()),
            File("etc/passwd-", "root:x:0:0::/root:/bin/sh\n"u8.ToArray(), 0x180, 0, 0),
            Dir("tmp", 0x3FF),
            Dir("usr"),
            Dir("usr/bin"),
            File("usr/bin/ping", Random(5000, seed + 4), 0x1ED, 0, 0,
                [new ExtendedAttribute("security.capability", [1, 0, 0, 2, 0, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])]),
            File("usr/bin/su", Random(3000, seed + 5), 0x9ED, 0, 0),
            Symlink("usr/bin/sh", "dash"),
            Symlink("usr/lib64", "/usr/lib/x86_64-linux-gnu"),
            Dir("dev"),
            Device("dev/null", EntryType.CharacterDevice, 1, 3),
            Device("dev/sda1", EntryType.BlockDevice, 8, 1),
            Device("dev/big", EntryType.CharacterDevice, 4093, 1023997),
            new TreeEntry { Path = "dev/fifo", Type = EntryType.Fifo, Permissions = 0x1A4, ModificationTime = T0 },
            new TreeEntry { Path = "dev/sock", Type = EntryType.Socket, Permissions = 0x1FF, ModificationTime = T0 },
        };
        return InWalkOrder(entries);
    }

    /// <summary>
    /// The SHA-256 of a content, read with ReadAtAsync: .fl contents come from stores, so their synchronous stream reads
    /// are refused. Test code may wait on the reads.
    /// </summary>
    private static string Sha256(FileContent content)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[1 << 20];
        for (long at = 0; at < content.Length;)
        {
            int n = content.ReadAtAsync(at, buffer).AsTask().GetAwaiter().GetResult();
            if (n <= 0) throw new EndOfStreamException($"content ended at {at} of {content.Length}");
            hash.AppendData(buffer, 0, n);
            at += n;
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>What a .fl keeps of a tree: sockets gone, hard links as files, times in whole seconds.</summary>
    public static List<string> Canonical(IEnumerable<TreeEntry> entries)
    {
        var list = new List<string>();
        foreach (var e in entries)
        {
            if (e.Type == EntryType.Socket) continue;
            var type = e.Type == EntryType.HardLink ? EntryType.RegularFile : e.Type;
            string content = "";
            if (type == EntryType.RegularFile)
            {
                using var c = e.OpenContent!();
                content = $"{c.Length}:{Sha256(c)}";
            }
            int perms = type == EntryType.SymbolicLink ? 0x1FF : e.Permissions;
            list.Add($"{e.Path}|{type}|{Convert.ToString(perms, 8)}|{e.Uid}:{e.Gid}|{e.ModificationTime.Seconds}|" +
                     $"{(e.Type == EntryType.HardLink ? null : e.LinkTarget)}|{e.DeviceMajor}:{e.DeviceMinor}|{content}");
        }
        return list;
    }
}
