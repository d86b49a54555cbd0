using System.Text.Json;
using RootfsForge.NativeTests.Support;

namespace RootfsForge.NativeTests.Disks;

/// <summary>
/// Builds (once, cached under <see cref="TestEnvironment.FixtureDir"/>/disks-v1) small qcow2/raw images with qemu-img and
/// qemu-io, and provides the oracles: <c>qemu-img convert -O raw</c> and <c>qemu-img map --output=json</c>.
/// </summary>
internal static class DiskFixtures
{
    private static readonly object Gate = new();

    public static string Dir { get; } = Path.Combine(TestEnvironment.FixtureDir, "disks-v1");

    /// <summary>6 MiB + 66 KiB + 2560 bytes: not a multiple of any cluster size, so the last cluster is partial.</summary>
    public const long SourceSize = (6L << 20) + (66 << 10) + 2560;

    public static void RequireQemu()
    {
        TestEnvironment.RequireTool("qemu-img");
        TestEnvironment.RequireTool("qemu-io");
    }

    /// <summary>A deterministic raw disk with compressible text, random (incompressible) data, zeros and holes.</summary>
    public static string SourceRaw => Build("source.raw", path =>
    {
        var rng = new Random(1234);
        using var f = new FileStream(path, FileMode.Create, FileAccess.Write);
        f.SetLength(SourceSize);
        byte[] text = System.Text.Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, 4096).Select(i => $"line {i} of the rootfs forge fixture\n")));
        // [0, 1 MiB): compressible text with a few random bytes sprinkled in
        f.Position = 0;
        var block = new byte[1 << 20];
        for (int i = 0; i < block.Length; i++) block[i] = text[i % text.Length];
        for (int i = 0; i < 200; i++) block[rng.Next(block.Length)] = (byte)rng.Next(256);
        f.Write(block);
        // [1 MiB, 1.5 MiB): random
        var random = new byte[512 << 10];
        rng.NextBytes(random);
        f.Write(random);
        // [1.5 MiB, 2.5 MiB): explicit zeros (allocated in the raw file)
        f.Write(new byte[1 << 20]);
        // [2.5 MiB, 3 MiB): alternating 4 KiB of text and 4 KiB of random
        for (int k = 0; k < 64; k++)
        {
            var chunk = new byte[4096];
            if (k % 2 == 0) Array.Copy(text, k * 64, chunk, 0, 4096); else rng.NextBytes(chunk);
            f.Write(chunk);
        }
        // [3 MiB, 4.5 MiB): hole; [4.5 MiB, end): text again, ending mid-cluster
        f.Position = (9L << 20) / 2;
        long rest = SourceSize - f.Position;
        var tail = new byte[rest];
        for (int i = 0; i < tail.Length; i++) tail[i] = text[(i * 7) % text.Length];
        f.Write(tail);
    });

    /// <summary>qemu-img convert of the source raw with the given options.</summary>
    public static string Convert(string name, params string[] options) => Build(name, path =>
    {
        var args = new List<string> { "convert", "-f", "raw", "-O", "qcow2" };
        args.AddRange(options);
        args.Add(SourceRaw);
        args.Add(path);
        Qemu("qemu-img", args);
    });

    /// <summary>Runs a script of qemu-img/qemu-io commands in a fixture folder, cached by the folder name.</summary>
    public static string BuildSet(string name, Action<string> build)
    {
        lock (Gate)
        {
            string dir = Path.Combine(Dir, name);
            string stamp = Path.Combine(dir, ".done");
            if (File.Exists(stamp)) return dir;
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
            Directory.CreateDirectory(dir);
            build(dir);
            File.WriteAllText(stamp, "ok");
            return dir;
        }
    }

    public static string Build(string name, Action<string> build)
    {
        lock (Gate)
        {
            Directory.CreateDirectory(Dir);
            string path = Path.Combine(Dir, name);
            if (File.Exists(path)) return path;
            string temp = path + ".tmp";
            if (File.Exists(temp)) File.Delete(temp);
            build(temp);
            File.Move(temp, path);
            return path;
        }
    }

    public static string Qemu(string tool, IEnumerable<string> args, string? cwd = null) =>
        TestEnvironment.RunChecked(tool, args, cwd, TimeSpan.FromMinutes(2));

    /// <summary>qemu-io commands (each "-c cmd") on a qcow2 file.</summary>
    public static void QemuIo(string image, params string[] commands)
    {
        var args = new List<string> { "-f", "qcow2" };
        foreach (var c in commands) { args.Add("-c"); args.Add(c); }
        args.Add(image);
        var output = Qemu("qemu-io", args, Path.GetDirectoryName(image));
        if (output.Contains("failed", StringComparison.OrdinalIgnoreCase))
            throw new InvalidOperationException($"qemu-io failed: {output}");
    }

    /// <summary>The oracle: the guest disk as qemu sees it, converted to raw (cached next to the image).</summary>
    public static string OracleRaw(string image)
    {
        string oracle = image + ".oracle.raw";
        lock (Gate)
        {
            if (!File.Exists(oracle) || File.GetLastWriteTimeUtc(oracle) < File.GetLastWriteTimeUtc(image))
            {
                string temp = oracle + ".tmp";
                Qemu("qemu-img", ["convert", "-O", "raw", image, temp], Path.GetDirectoryName(image));
                File.Move(temp, oracle, overwrite: true);
            }
        }
        return oracle;
    }

    /// <summary>The byte ranges qemu reports as data (<c>"data": true</c>), merged.</summary>
    public static List<(long Offset, long Length)> QemuDataRanges(string image)
    {
        string json = Qemu("qemu-img", ["map", "--output=json", image], Path.GetDirectoryName(image));
        var ranges = new List<(long, long)>();
        using var doc = JsonDocument.Parse(json);
        foreach (var e in doc.RootElement.EnumerateArray())
            if (e.GetProperty("data").GetBoolean())
                ranges.Add((e.GetProperty("start").GetInt64(), e.GetProperty("length").GetInt64()));
        return Merge(ranges);
    }

    public static List<(long Offset, long Length)> Merge(IEnumerable<(long Offset, long Length)> ranges)
    {
        var result = new List<(long Offset, long Length)>();
        foreach (var (o, l) in ranges.Where(r => r.Length > 0).OrderBy(r => r.Offset))
        {
            if (result.Count > 0 && result[^1].Offset + result[^1].Length >= o)
            {
                var last = result[^1];
                result[^1] = (last.Offset, Math.Max(last.Offset + last.Length, o + l) - last.Offset);
            }
            else result.Add((o, l));
        }
        return result;
    }
}
