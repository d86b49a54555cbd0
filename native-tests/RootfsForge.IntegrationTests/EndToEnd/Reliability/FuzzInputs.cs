using System.Buffers.Binary;
using System.Globalization;
using System.Text.RegularExpressions;
using RootfsForge.NativeTests.Disks;
using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Reliability;

/// <summary>One structure of an input file worth mutating: a name for reports, the file, and its byte range.</summary>
public sealed record FuzzTarget(string Name, string File, long Offset, long Length, int FieldSize = 0);

/// <summary>
/// The real inputs the fuzz test mutates, built once (cached under the fixture folder) from one small tree: an ext4 made
/// by mke2fs -d (deterministic: fixed UUID, hash seed, times), three qcow2 conversions of it by qemu-img (64 KiB
/// clusters; zstd-compressed 4 KiB clusters; extended L2), a .fl packed by the CLI with its blocks in a dir store, and two
/// pax tars (the CLI's own writer; GNU tar with GNU sparse 1.0). The structures are located from the files themselves and
/// debugfs, so a change of tool defaults moves the targets with it.
/// </summary>
public sealed class FuzzInputs
{
    private static readonly object Gate = new();
    private static FuzzInputs? s_instance;

    public required string Dir { get; init; }
    public string FileSystem => Path.Combine(Dir, "fs.img");
    public string Flist => Path.Combine(Dir, "x.fl");
    public string Store => Path.Combine(Dir, "store");
    public static readonly string[] Qcow2Files = ["plain.qcow2", "zstd4k.qcow2", "extl2.qcow2"];
    public static readonly string[] TarFiles = ["ours.tar", "gnu.tar"];

    /// <summary>The ext4 images: with metadata_csum (mke2fs's default), and without, where e2fsck accepts more mutations
    /// as consistent, so that more cases reach the kernel comparison.</summary>
    public static readonly string[] Ext4Files = ["fs.img", "fs-nocsum.img"];

    public required IReadOnlyList<FuzzTarget> Qcow2Targets { get; init; }
    public required IReadOnlyList<FuzzTarget> Ext4Targets { get; init; }
    public required IReadOnlyDictionary<string, long> FlistRowCounts { get; init; }

    /// <summary>Paths inside the tree that `cat` is run on.</summary>
    public static readonly string[] CatPaths = ["/file-big", "/fragmented", "/dir/sub/link", "/etc/os-release"];

    public static void RequireTools()
    {
        ReliabilityCli.Require();
        TestEnvironment.RequireRoot("mknod in the tree, loop mounts as the ext4 oracle");
        foreach (var tool in new[] { "mke2fs", "debugfs", "e2fsck", "qemu-img", "qemu-io", "sqlite3", "tar", "setfattr", "mount", "python3" })
            TestEnvironment.RequireTool(tool);
    }

    public static FuzzInputs Get()
    {
        lock (Gate)
        {
            if (s_instance is not null) return s_instance;
            string dir = DiskFixtures.BuildSet("reliability-fuzz-v2", Build);
            s_instance = new FuzzInputs
            {
                Dir = dir,
                Qcow2Targets = Qcow2Files.SelectMany(f => LocateQcow2(Path.Combine(dir, f))).ToList(),
                Ext4Targets = Ext4Files.SelectMany(f => LocateExt4(Path.Combine(dir, f))).ToList(),
                FlistRowCounts = new[] { "inode", "block", "extra", "route", "tag" }.ToDictionary(t => t, t =>
                    long.Parse(TestEnvironment.RunChecked("sqlite3", [Path.Combine(dir, "x.fl"), $"SELECT count(*) FROM {t};"]).Trim(),
                        CultureInfo.InvariantCulture)),
            };
            return s_instance;
        }
    }

    private static void Build(string dir)
    {
        string tree = Path.Combine(dir, "tree");
        Directory.CreateDirectory(Path.Combine(tree, "etc"));
        Directory.CreateDirectory(Path.Combine(tree, "dir", "sub"));
        var rng = new Random(4711);
        File.WriteAllText(Path.Combine(tree, "etc", "os-release"), "ID=fuzz\nVERSION_ID=1\n");
        File.WriteAllBytes(Path.Combine(tree, "file-small"), Bytes(rng, 100));
        File.WriteAllBytes(Path.Combine(tree, "file-big"), Bytes(rng, 300_000));
        // Sixteen one-block extents with holes between them: more than fit in the inode, so the extent tree has a leaf block.
        using (var f = new FileStream(Path.Combine(tree, "fragmented"), FileMode.Create))
            for (int i = 0; i <= 30; i += 2)
            {
                f.Position = i * 4096L;
                f.Write(System.Text.Encoding.ASCII.GetBytes($"block {i}\n"));
            }
        for (int i = 1; i <= 300; i++) File.WriteAllBytes(Path.Combine(tree, "dir", $"entry-number-{i:00000}"), []); // an htree directory
        File.WriteAllText(Path.Combine(tree, "dir", "sub", "leaf"), "x\n");
        File.CreateSymbolicLink(Path.Combine(tree, "dir", "sub", "link"), "../../file-small");
        File.CreateSymbolicLink(Path.Combine(tree, "longlink"), string.Concat(Enumerable.Repeat("long/", 30)) + "target"); // a slow symlink
        File.WriteAllText(Path.Combine(tree, "xattr-file"), "x\n");
        TestEnvironment.RunChecked("setfattr", ["-n", "user.big", "-v", new string('v', 1500), Path.Combine(tree, "xattr-file")]);
        TestEnvironment.RunChecked("setfattr", ["-n", "user.small", "-v", "s", Path.Combine(tree, "file-small")]);
        File.CreateSymbolicLink(Path.Combine(tree, "dangling"), "/nonexistent/target");
        TestEnvironment.RunChecked("ln", [Path.Combine(tree, "file-small"), Path.Combine(tree, "hardlink")]);
        TestEnvironment.RunChecked("mknod", [Path.Combine(tree, "chardev"), "c", "1", "3"]);
        TestEnvironment.RunChecked("mkfifo", [Path.Combine(tree, "fifo")]);
        // Fixed times (atime in the future, so reading the tree does not change it) for a byte-identical filesystem.
        TestEnvironment.RunChecked("bash", ["-c", $"find '{tree}' -exec touch -h -m -d @1700000000 {{}} + && find '{tree}' -exec touch -h -a -d @1900000000 {{}} +"]);

        string fs = Path.Combine(dir, "fs.img");
        foreach (var (image, features) in new[] { (fs, "metadata_csum"), (Path.Combine(dir, "fs-nocsum.img"), "^metadata_csum") })
        {
            var (code, _, err) = TestEnvironment.Run("mke2fs", ["-q", "-F", "-t", "ext4", "-b", "4096", "-N", "512", "-O", features,
                "-U", "6b1e7c2a-0000-4000-8000-000000000001",
                "-E", "hash_seed=6b1e7c2a-0000-4000-8000-000000000002,root_owner=0:0,lazy_itable_init=0",
                "-d", tree, image, "8M"], environment: new Dictionary<string, string> { ["E2FSPROGS_FAKE_TIME"] = "1700000000" });
            Assert.True(code == 0, $"mke2fs: {err}");
        }
        DiskFixtures.Qemu("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", "fs.img", "plain.qcow2"], dir);
        DiskFixtures.Qemu("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", "-c", "-o", "compression_type=zstd,cluster_size=4k",
            "fs.img", "zstd4k.qcow2"], dir);
        DiskFixtures.Qemu("qemu-img", ["convert", "-f", "raw", "-O", "qcow2", "-o", "extended_l2=on,cluster_size=64k",
            "fs.img", "extl2.qcow2"], dir);

        var pack = ReliabilityCli.Run(TimeSpan.FromMinutes(2), "fl", "pack", tree, "-o", Path.Combine(dir, "x.fl"),
            "--store", $"dir://{Path.Combine(dir, "store")}", "-q");
        Assert.True(pack.ExitCode == 0, $"fl pack: {pack}");
        var extract = ReliabilityCli.Run(TimeSpan.FromMinutes(2), "extract", fs, "-o", Path.Combine(dir, "ours.tar"), "-q");
        Assert.True(extract.ExitCode == 0, $"extract: {extract}");
        TestEnvironment.RunChecked("tar", ["--format=pax", "--sparse", "--sparse-version=1.0", "--xattrs", "--numeric-owner",
            "-cf", Path.Combine(dir, "gnu.tar"), "-C", tree, "."]);
    }

    private static byte[] Bytes(Random rng, int n)
    {
        var b = new byte[n];
        rng.NextBytes(b);
        return b;
    }

    // ------------------------------------------------------------------ qcow2 (docs/disk-formats.md §1.1, §1.4)

    /// <summary>Header fields by name (offset, size), as qemu's docs/interop/qcow2.rst lays them out.</summary>
    internal static readonly (string Name, int Offset, int Size)[] Qcow2HeaderFields =
    [
        ("version", 4, 4), ("backing_file_offset", 8, 8), ("backing_file_size", 16, 4), ("cluster_bits", 20, 4),
        ("size", 24, 8), ("crypt_method", 32, 4), ("l1_size", 36, 4), ("l1_table_offset", 40, 8),
        ("refcount_table_offset", 48, 8), ("refcount_table_clusters", 56, 4), ("nb_snapshots", 60, 4),
        ("snapshots_offset", 64, 8), ("incompatible_features", 72, 8), ("compatible_features", 80, 8),
        ("autoclear_features", 88, 8), ("refcount_order", 96, 4), ("header_length", 100, 4), ("compression_type", 104, 1),
    ];

    private static IEnumerable<FuzzTarget> LocateQcow2(string path)
    {
        string file = Path.GetFileName(path);
        byte[] bytes = File.ReadAllBytes(path);
        var targets = new List<FuzzTarget>();
        foreach (var (name, offset, size) in Qcow2HeaderFields)
            targets.Add(new FuzzTarget($"qcow2 header {name}", file, offset, size, size));
        int clusterBits = (int)BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(20));
        int cluster = 1 << clusterBits;
        uint headerLength = BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(100));
        targets.Add(new FuzzTarget("qcow2 header extensions", file, headerLength, Math.Min(cluster, 4096) - headerLength));
        long l1 = (long)BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan(40));
        uint l1Size = BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(36));
        targets.Add(new FuzzTarget("qcow2 L1 table", file, l1, l1Size * 8L, 8));
        bool extended = (BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan(72)) & 0x10) != 0;
        for (int i = 0; i < l1Size; i++)
        {
            long l2 = (long)(BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan((int)(l1 + i * 8))) & 0x00FFFFFFFFFFFE00);
            // The used part of each L2 table (an 8 MiB disk fills only the first entries of a 64 KiB table).
            if (l2 != 0) targets.Add(new FuzzTarget($"qcow2 L2 table {i}", file, l2, Math.Min(cluster, 4096), extended ? 16 : 8));
        }
        long refcountTable = (long)BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan(48));
        targets.Add(new FuzzTarget("qcow2 refcount table", file, refcountTable, 64, 8));
        long refcountBlock = (long)BinaryPrimitives.ReadUInt64BigEndian(bytes.AsSpan((int)refcountTable));
        if (refcountBlock != 0) targets.Add(new FuzzTarget("qcow2 refcount block", file, refcountBlock, 256));
        long dataStart = Math.Max(l1 + l1Size * 8L, refcountBlock + cluster);
        targets.Add(new FuzzTarget("qcow2 data", file, dataStart, bytes.Length - dataStart));
        targets.Add(new FuzzTarget("qcow2 truncation", file, 0, bytes.Length));
        return targets;
    }

    // ------------------------------------------------------------------ ext4 (docs/disk-formats.md §3)

    /// <summary>Superblock fields by name (offset in the superblock, size).</summary>
    internal static readonly (string Name, int Offset, int Size)[] SuperblockFields =
    [
        ("s_inodes_count", 0x0, 4), ("s_blocks_count_lo", 0x4, 4), ("s_first_data_block", 0x14, 4), ("s_log_block_size", 0x18, 4),
        ("s_blocks_per_group", 0x20, 4), ("s_inodes_per_group", 0x28, 4), ("s_magic", 0x38, 2), ("s_state", 0x3A, 2),
        ("s_rev_level", 0x4C, 4), ("s_first_ino", 0x54, 4), ("s_inode_size", 0x58, 2), ("s_feature_compat", 0x5C, 4),
        ("s_feature_incompat", 0x60, 4), ("s_feature_ro_compat", 0x64, 4), ("s_journal_inum", 0xE0, 4),
        ("s_desc_size", 0xFE, 2), ("s_first_meta_bg", 0x104, 4), ("s_blocks_count_hi", 0x150, 4),
        ("s_min_extra_isize", 0x15C, 2), ("s_log_groups_per_flex", 0x174, 1), ("s_checksum_type", 0x175, 1),
        ("s_checksum", 0x3FC, 4),
    ];

    private static List<FuzzTarget> LocateExt4(string fs)
    {
        string file = Path.GetFileName(fs);
        var targets = new List<FuzzTarget>();
        foreach (var (name, offset, size) in SuperblockFields)
            targets.Add(new FuzzTarget($"ext4 superblock {name}", file, 1024 + offset, size, size));
        byte[] sb = new byte[1024];
        using (var f = File.OpenRead(fs))
        {
            f.Position = 1024;
            f.ReadExactly(sb);
        }
        int blockSize = 1024 << (int)BinaryPrimitives.ReadUInt32LittleEndian(sb.AsSpan(0x18));
        uint groups = (BinaryPrimitives.ReadUInt32LittleEndian(sb.AsSpan(0x4)) + BinaryPrimitives.ReadUInt32LittleEndian(sb.AsSpan(0x20)) - 1)
                      / BinaryPrimitives.ReadUInt32LittleEndian(sb.AsSpan(0x20));
        int descSize = (BinaryPrimitives.ReadUInt32LittleEndian(sb.AsSpan(0x60)) & 0x80) != 0
            ? BinaryPrimitives.ReadUInt16LittleEndian(sb.AsSpan(0xFE))
            : 32;
        long gdt = (BinaryPrimitives.ReadUInt32LittleEndian(sb.AsSpan(0x14)) + 1L) * blockSize;
        targets.Add(new FuzzTarget("ext4 group descriptors", file, gdt, groups * (long)descSize));
        int inodeSize = BinaryPrimitives.ReadUInt16LittleEndian(sb.AsSpan(0x58));
        foreach (var path in new[] { "/", "/dir", "/file-small", "/file-big", "/fragmented", "/xattr-file", "/longlink", "/dir/sub/link", "/chardev", "<8>" })
        {
            var m = Regex.Match(Debugfs(fs, $"imap {path}"), @"located at block (\d+), offset 0x([0-9a-f]+)");
            if (m.Success)
                targets.Add(new FuzzTarget($"ext4 inode {path}", file,
                    long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) * blockSize + Convert.ToInt64(m.Groups[2].Value, 16), inodeSize));
        }
        foreach (var dir in new[] { "/", "/dir", "/dir/sub" })
            foreach (var block in Numbers(Debugfs(fs, $"blocks {dir}")).Take(4))
                targets.Add(new FuzzTarget($"ext4 directory block of {dir}", file, block * blockSize, blockSize));
        var leaf = Regex.Match(Debugfs(fs, "ex /fragmented"), @"^\s*0/\s*1\s+\d+/\s*\d+\s+\d+\s+-\s+\d+\s+(\d+)", RegexOptions.Multiline);
        if (leaf.Success)
            targets.Add(new FuzzTarget("ext4 extent leaf block of /fragmented", file,
                long.Parse(leaf.Groups[1].Value, CultureInfo.InvariantCulture) * blockSize, blockSize));
        var acl = Regex.Match(Debugfs(fs, "stat /xattr-file"), @"File ACL: (\d+)");
        if (acl.Success && acl.Groups[1].Value != "0")
            targets.Add(new FuzzTarget("ext4 xattr block of /xattr-file", file,
                long.Parse(acl.Groups[1].Value, CultureInfo.InvariantCulture) * blockSize, blockSize));
        if (Numbers(Debugfs(fs, "blocks <8>")).FirstOrDefault() is var journal and > 0)
            targets.Add(new FuzzTarget("ext4 journal superblock", file, journal * blockSize, 1024));
        Assert.True(targets.Count > 30, $"located only {targets.Count} ext4 structures");
        return targets;
    }

    private static string Debugfs(string image, string command) => TestEnvironment.RunChecked("debugfs", ["-R", command, image]);

    private static IEnumerable<long> Numbers(string text) =>
        text.Split((char[])[' ', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries)
            .Select(t => long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : -1).Where(n => n > 0);
}
