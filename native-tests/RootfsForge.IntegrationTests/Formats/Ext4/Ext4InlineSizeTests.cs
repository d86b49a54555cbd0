using RootfsForge.NativeTests.Support;
using RootfsForge.Ext4;
using Xunit;
using RootfsForge.Disks;

namespace RootfsForge.NativeTests.Ext4;

/// <summary>
/// Inline-data regular files whose i_size is larger than the inline area: `mke2fs -d` stores an all-hole file that way, and
/// debugfs `sif size` grows an inline file. The kernel (read-only loop mount) reads the inline bytes, then zeros; the reader
/// must match it byte for byte and keep the zeros a hole.
/// </summary>
public class Ext4InlineSizeTests
{
    private static readonly Lock Gate = new();

    /// <summary>name → i_size set afterwards with debugfs (null: as mke2fs -d made it).</summary>
    private static readonly (string Name, long? GrowTo)[] Files =
    [
        ("all-hole", null),          // truncate -s 10M: no data, inline flag, i_size 10 MiB
        ("tiny-grown", 200_000),     // 13 bytes in i_block, then i_size raised
        ("mid-grown", 70_000),       // 100 bytes: 60 in i_block + 40 in system.data, then i_size raised
        ("exact-60", null),          // fits i_block exactly (control)
    ];

    private static string Image()
    {
        lock (Gate)
        {
            string image = Path.Combine(Ext4Fixtures.Dir, "inline-size-v1.img");
            if (File.Exists(image)) return image;
            string src = TestEnvironment.NewTempDir("rff-inline-src");
            try
            {
                using (var f = File.Create(Path.Combine(src, "all-hole"))) f.SetLength(10 << 20);
                File.WriteAllText(Path.Combine(src, "tiny-grown"), "hello inline\n");
                File.WriteAllBytes(Path.Combine(src, "mid-grown"), Enumerable.Range(1, 100).Select(i => (byte)i).ToArray());
                File.WriteAllBytes(Path.Combine(src, "exact-60"), Enumerable.Range(0, 60).Select(i => (byte)(200 - i)).ToArray());
                string tmp = image + ".tmp";
                File.Delete(tmp);
                TestEnvironment.RunChecked("mke2fs", ["-q", "-F", "-t", "ext4", "-b", "4096", "-I", "256", "-O", "inline_data",
                    "-E", "root_owner=0:0", "-d", src, tmp, "16M"]);
                foreach (var (name, grow) in Files)
                {
                    if (grow is long size)
                        TestEnvironment.RunChecked("debugfs", ["-w", "-R", $"sif /{name} size {size}", tmp]);
                }
                File.Move(tmp, image);
                return image;
            }
            finally
            {
                Directory.Delete(src, true);
            }
        }
    }

    [SkippableFact]
    public void InlineFilesLargerThanTheInlineAreaReadAsTheKernelReadsThem()
    {
        TestEnvironment.RequireRoot("the oracle is a read-only loop mount");
        foreach (var tool in new[] { "mke2fs", "debugfs", "mount" }) TestEnvironment.RequireTool(tool);
        string image = Image();
        foreach (var (name, _) in Files)
        {
            string stat = TestEnvironment.RunChecked("debugfs", ["-R", $"stat /{name}", image]);
            Assert.True(stat.Contains("Size of inline data", StringComparison.Ordinal), $"{name} must be an inline-data inode:\n{stat}");
        }

        var kernel = new Dictionary<string, byte[]>();
        string mnt = TestEnvironment.NewTempDir("rff-mnt");
        TestEnvironment.RunChecked("mount", ["-o", "ro,loop,noload", image, mnt]);
        try
        {
            foreach (var (name, _) in Files) kernel[name] = File.ReadAllBytes(Path.Combine(mnt, name));
        }
        finally
        {
            TestEnvironment.RunChecked("umount", [mnt]);
            Directory.Delete(mnt);
        }

        using var device = BlockSource.OpenFile(image);
        using var fs = Ext4FileSystem.Open(device, new Ext4Options { VerifyChecksums = true });
        var entries = fs.Walk().ToDictionary(e => e.Path);
        Assert.Empty(fs.Warnings);
        foreach (var (name, grow) in Files)
        {
            byte[] expected = kernel[name];
            var entry = entries[name];
            Assert.Equal(expected.LongLength, entry.Size);
            using var content = entry.OpenContent!();
            Assert.Equal(expected.LongLength, content.Length);
            byte[] ours = new byte[content.Length];
            content.ReadExactlyAt(0, ours);
            Assert.True(expected.AsSpan().SequenceEqual(ours), $"{name}: content differs from the kernel's");
            Assert.Equal(0, content.ReadAt(content.Length, new byte[1]));

            // Only the inline area is data; the rest is a hole that must read as zeros in the kernel's view too.
            var segments = content.GetDataSegments();
            long data = segments.Sum(s => s.Length);
            Assert.True(data <= 256, $"{name}: {data} bytes of data segments; more than an inode can hold inline (zeros materialized)");
            long pos = 0;
            foreach (var s in segments)
            {
                Assert.True(s.Offset >= pos && s.End <= content.Length, $"{name}: segment {s} out of order or past the end");
                Assert.True(expected.AsSpan((int)pos, (int)(s.Offset - pos)).IndexOfAnyExcept((byte)0) < 0, $"{name}: data in a hole");
                pos = s.End;
            }
            Assert.True(expected.AsSpan((int)pos).IndexOfAnyExcept((byte)0) < 0, $"{name}: data in the trailing hole");
            if (grow is not null) Assert.True(expected.AsSpan(0, 13).IndexOfAnyExcept((byte)0) >= 0, $"{name}: the inline bytes come first");
        }
    }
}
