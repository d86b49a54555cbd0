using System.Security.Cryptography;
using System.Text.Json;
using RootfsForge.Sources.Ext4;
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
        if (options.CompareTimes && type != "lnk" || options.CompareNanoseconds)
        {
            long ns = m.GetProperty("mtime_ns").GetInt64();
            long seconds = m.GetProperty("mtime").GetInt64();
            if (options.CompareNanoseconds)
            {
                Assert.True(seconds == e.ModificationTime.Seconds, $"{where}: mtime {e.ModificationTime} vs {seconds}");
                Assert.True(ns - seconds * 1_000_000_000 == e.ModificationTime.Nanoseconds, $"{where}: mtime ns {e.ModificationTime}");
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
            var segments = content.GetDataSegments();
            long last = 0;
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            byte[] buf = new byte[1 << 20];
            byte[] zeros = new byte[1 << 20];
            foreach (var s in segments)
            {
                Assert.True(s.Offset >= last && s.Length > 0 && s.End <= size, $"{where}: bad segment {s}");
                for (long z = last; z < s.Offset; z += zeros.Length) sha.AppendData(zeros, 0, (int)Math.Min(zeros.Length, s.Offset - z));
                for (long p = s.Offset; p < s.End; p += buf.Length)
                {
                    int n = (int)Math.Min(buf.Length, s.End - p);
                    content.ReadExactlyAt(p, buf.AsSpan(0, n));
                    sha.AppendData(buf, 0, n);
                }
                last = s.End;
            }
            for (long z = last; z < size; z += zeros.Length) sha.AppendData(zeros, 0, (int)Math.Min(zeros.Length, size - z));
            Assert.True(m.GetProperty("sha256").GetString() == Convert.ToHexString(sha.GetHashAndReset()).ToLowerInvariant(),
                $"{where}: content differs");
            if (size < 64 << 20)
            {
                // A plain sequential read must agree with the segment-wise one.
                using var stream = content.OpenStream();
                Assert.Equal(m.GetProperty("sha256").GetString(), Convert.ToHexString(SHA256.HashData(stream)).ToLowerInvariant());
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
