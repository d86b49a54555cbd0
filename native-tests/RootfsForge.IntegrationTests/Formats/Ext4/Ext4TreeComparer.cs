using System.Security.Cryptography;
using System.Text.Json;
using RootfsForge.Ext4;
using RootfsForge.Tree;
using Xunit;

namespace RootfsForge.NativeTests.Ext4;

/// <summary>Compares an ext4 walk with the manifest of the tree the image was made from (or the kernel's view).</summary>
internal static class Ext4TreeComparer
{
    internal sealed record Options(bool CompareTimes = true, bool CompareNanoseconds = false, bool IgnoreLostAndFound = true);

    public static List<TreeEntry> CompareWalk(Ext4FileSystem fs, List<JsonElement> manifest, Options options)
    {
        var entries = fs.Walk().ToList();
        var byPath = new Dictionary<string, TreeEntry>();
        foreach (var e in entries)
        {
            string hex = Convert.ToHexString(FileNameEncoding.GetBytes(e.Path)).ToLowerInvariant();
            Assert.True(byPath.TryAdd(hex, e), $"path emitted twice: {e.Path}");
        }
        Assert.Equal("", entries[0].Path);
        CheckOrder(entries);

        var expectedPaths = new HashSet<string>();
        var inodeOfPath = new Dictionary<string, long>();
        foreach (var m in manifest)
        {
            string path = m.GetProperty("path").GetString()!;
            expectedPaths.Add(path);
            inodeOfPath[path] = m.GetProperty("ino").GetInt64();
            Assert.True(byPath.TryGetValue(path, out var e), $"missing from the walk: {Describe(path)}");
            CompareEntry(e!, m, options, byPath, inodeOfPath);
        }
        foreach (var (hex, e) in byPath)
        {
            if (expectedPaths.Contains(hex)) continue;
            if (options.IgnoreLostAndFound && (e.Path == "lost+found" || e.Path.StartsWith("lost+found/", StringComparison.Ordinal))) continue;
            Assert.Fail($"extra entry in the walk: {e.Path}");
        }
        // Hard-link groups: every HardLink names an earlier path of the same source inode.
        foreach (var e in entries.Where(e => e.Type == EntryType.HardLink))
        {
            string self = Convert.ToHexString(FileNameEncoding.GetBytes(e.Path)).ToLowerInvariant();
            string target = Convert.ToHexString(FileNameEncoding.GetBytes(e.LinkTarget!)).ToLowerInvariant();
            Assert.Equal(inodeOfPath[self], inodeOfPath[target]);
            Assert.True(entries.FindIndex(x => x.Path == e.LinkTarget) < entries.IndexOf(e), "hard link target must come first");
        }
        Assert.Empty(fs.Warnings);
        return entries;
    }

    /// <summary>
    /// The manifest's content hash: sha256 over (le64 offset, bytes) of every 64 KiB-aligned chunk holding a non-zero
    /// byte, then le64 size. Reads only the data segments, checking their shape on the way.
    /// </summary>
    internal static string SparseHash(FileContent content)
    {
        const int chunk = 1 << 16;
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] buf = new byte[chunk];
        Span<byte> le = stackalloc byte[8];
        long next = 0, last = 0;
        foreach (var s in content.GetDataSegments())
        {
            Assert.True(s.Offset >= last && s.Length > 0 && s.End <= content.Length, $"bad data segment {s}");
            last = s.End;
            for (long c = Math.Max(next, s.Offset - s.Offset % chunk); c < s.End; c += chunk)
            {
                int n = (int)Math.Min(chunk, content.Length - c);
                content.ReadExactlyAt(c, buf.AsSpan(0, n));
                next = c + chunk;
                if (!buf.AsSpan(0, n).ContainsAnyExcept((byte)0)) continue;
                System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(le, c);
                sha.AppendData(le);
                sha.AppendData(buf, 0, n);
            }
        }
        System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(le, content.Length);
        sha.AppendData(le);
        return Convert.ToHexString(sha.GetHashAndReset()).ToLowerInvariant();
    }

    private static void CheckOrder(List<TreeEntry> entries)
    {
        // Each entry's parent precedes it, and siblings appear in byte order.
        var seen = new HashSet<string> { "" };
        var lastChild = new Dictionary<string, string>();
        foreach (var e in entries.Skip(1))
        {
            int slash = e.Path.LastIndexOf('/');
            string parent = slash < 0 ? "" : e.Path[..slash];
            Assert.Contains(parent, seen);
            if (lastChild.TryGetValue(parent, out var prev))
                Assert.True(FileNameEncoding.CompareBytes(prev, e.Name) < 0, $"{prev} !< {e.Name} in {parent}");
            lastChild[parent] = e.Name;
            seen.Add(e.Path);
        }
    }

    private static string Describe(string hex) => FileNameEncoding.GetString(Convert.FromHexString(hex));

    private static void CompareEntry(TreeEntry e, JsonElement m, Options options, Dictionary<string, TreeEntry> byPath,
        Dictionary<string, long> inodeOfPath)
    {
        string where = e.Path.Length == 0 ? "/" : e.Path;
        string type = m.GetProperty("type").GetString()!;
        var expectedType = type switch
        {
            "dir" => EntryType.Directory,
            "reg" => EntryType.RegularFile,
            "lnk" => EntryType.SymbolicLink,
            "chr" => EntryType.CharacterDevice,
            "blk" => EntryType.BlockDevice,
            "fifo" => EntryType.Fifo,
            _ => EntryType.Socket,
        };
        if (e.Type == EntryType.HardLink) Assert.True(m.GetProperty("nlink").GetInt32() > 1, $"{where}: unexpected hard link");
        else Assert.True(expectedType == e.Type, $"{where}: type {e.Type}, expected {expectedType}");
        Assert.True(m.GetProperty("perm").GetInt32() == e.Permissions, $"{where}: permissions {Convert.ToString(e.Permissions, 8)}");
        Assert.True(m.GetProperty("uid").GetUInt32() == e.Uid, $"{where}: uid {e.Uid}");
        Assert.True(m.GetProperty("gid").GetUInt32() == e.Gid, $"{where}: gid {e.Gid}");
        // mke2fs -d does not copy the source root's times.
        if (e.Path.Length > 0 && (options.CompareTimes && type != "lnk" || options.CompareNanoseconds))
        {
            uint nsec = m.GetProperty("mtime_nsec").GetUInt32();
            long seconds = m.GetProperty("mtime").GetInt64();
            if (options.CompareNanoseconds)
            {
                Assert.True(seconds == e.ModificationTime.Seconds, $"{where}: mtime {e.ModificationTime} vs {seconds}");
                Assert.True(nsec == e.ModificationTime.Nanoseconds, $"{where}: mtime ns {e.ModificationTime}");
            }
            else if (seconds is >= int.MinValue and <= int.MaxValue)
            {
                // mke2fs -d stores whole seconds without epoch bits; only the 32-bit range survives it.
                Assert.True(seconds == e.ModificationTime.Seconds, $"{where}: mtime {e.ModificationTime} vs {seconds}");
            }
        }
        if (type == "reg")
        {
            long size = m.GetProperty("size").GetInt64();
            Assert.True(size == e.Size, $"{where}: size {e.Size}, expected {size}");
            Assert.NotNull(e.OpenContent);
            using var content = e.OpenContent!();
            Assert.Equal(size, content.Length);
            Assert.True(m.GetProperty("sha256").GetString() == SparseHash(content), $"{where}: content differs");
            if (size < 64 << 20)
            {
                // A plain sequential read must agree with the segment-wise one.
                using var stream = content.OpenStream();
                byte[] all = new byte[size];
                stream.ReadExactly(all);
                using var again = FileContent.FromBytes(all);
                Assert.Equal(m.GetProperty("sha256").GetString(), SparseHash(again));
            }
        }
        if (type == "lnk")
        {
            string target = m.GetProperty("target").GetString()!;
            Assert.True(target == Convert.ToHexString(FileNameEncoding.GetBytes(e.LinkTarget!)).ToLowerInvariant(), $"{where}: link target {e.LinkTarget}");
            Assert.Equal(target.Length / 2, e.Size);
        }
        if (type is "chr" or "blk")
        {
            Assert.True(m.GetProperty("major").GetUInt32() == e.DeviceMajor && m.GetProperty("minor").GetUInt32() == e.DeviceMinor,
                $"{where}: device {e.DeviceMajor}:{e.DeviceMinor}");
        }
        var expectedXattrs = m.GetProperty("xattrs").EnumerateObject()
            .Select(p => $"{p.Name}={p.Value.GetString()}").OrderBy(x => x, StringComparer.Ordinal).ToList();
        var actualXattrs = e.ExtendedAttributes.Select(a => $"{a.Name}={Convert.ToHexString(a.Value).ToLowerInvariant()}").ToList();
        Assert.True(expectedXattrs.SequenceEqual(actualXattrs),
            $"{where}: xattrs [{string.Join(", ", actualXattrs)}] expected [{string.Join(", ", expectedXattrs)}]");
        Assert.True(e.ExtendedAttributes.Select(a => a.Name).SequenceEqual(e.ExtendedAttributes.Select(a => a.Name).Order(StringComparer.Ordinal)),
            $"{where}: xattrs not sorted");
    }
}
