using System.Text.Json;
using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Ext4;

/// <summary>Builds (once, cached under FixtureDir/ext4) the source trees and the mke2fs -d images made from them.</summary>
internal static class Ext4Fixtures
{
    private const string Version = "v2";
    private static readonly Lock Gate = new();

    public static string Dir
    {
        get
        {
            var d = Path.Combine(TestEnvironment.FixtureDir, "ext4");
            Directory.CreateDirectory(d);
            return d;
        }
    }

    public static void RequireImageTools()
    {
        TestEnvironment.RequireRoot("the source tree holds devices and foreign owners (mknod, chown)");
        foreach (var tool in new[] { "mke2fs", "setfattr", "setfacl", "setcap", "python3", "debugfs" }) TestEnvironment.RequireTool(tool);
    }

    /// <summary>The source tree ("full" or "inline" variant).</summary>
    public static string SourceTree(string variant)
    {
        lock (Gate)
        {
            string path = Path.Combine(Dir, $"tree-{variant}-{Version}");
            if (!Directory.Exists(path))
                TestEnvironment.RunChecked("bash", [Path.Combine(TestEnvironment.RepoRoot, "tools", "fixtures", "ext4-tree.sh"), path, variant],
                    timeout: TimeSpan.FromMinutes(5));
            return path;
        }
    }

    /// <summary>An image made by <c>mke2fs -d</c> from <paramref name="source"/>, cached by name.</summary>
    public static string Image(string name, string source, string[] mkfsArgs, string size = "160M")
    {
        lock (Gate)
        {
            string path = Path.Combine(Dir, $"{name}-{Version}.img");
            if (File.Exists(path)) return path;
            string tmp = path + ".tmp";
            File.Delete(tmp);
            var args = new List<string> { "-q", "-F" };
            args.AddRange(mkfsArgs);
            args.AddRange(["-d", source, tmp, size]);
            TestEnvironment.RunChecked("mke2fs", args, timeout: TimeSpan.FromMinutes(5));
            File.Move(tmp, path);
            return path;
        }
    }

    /// <summary>
    /// An image written by the kernel itself, cached as <paramref name="fileName"/>: a <paramref name="size"/> file made
    /// by <c>mkfs.ext4 -q -F</c> with <paramref name="mkfsArgs"/>, loop-mounted read-write, filled by
    /// <paramref name="populate"/> (given the mount point), synced and unmounted. Needs root.
    /// </summary>
    public static string KernelWritten(string fileName, string size, string[] mkfsArgs, Action<string> populate)
    {
        lock (Gate)
        {
            string image = Path.Combine(Dir, fileName);
            if (File.Exists(image)) return image;
            string tmp = image + ".tmp";
            string mnt = TestEnvironment.NewTempDir("rff-mnt");
            File.Delete(tmp);
            TestEnvironment.RunChecked("truncate", ["-s", size, tmp]);
            TestEnvironment.RunChecked("mkfs.ext4", ["-q", "-F", .. mkfsArgs, tmp]);
            TestEnvironment.RunChecked("mount", ["-o", "loop", tmp, mnt]);
            try
            {
                populate(mnt);
                TestEnvironment.RunChecked("sync", []);
            }
            finally
            {
                TestEnvironment.RunChecked("umount", [mnt]);
                Directory.Delete(mnt);
            }
            File.Move(tmp, image);
            return image;
        }
    }

    /// <summary>The oracle: one JSON object per entry of a directory, from tools/fixtures/ext4-manifest.py.</summary>
    public static List<JsonElement> Manifest(string dir)
    {
        lock (Manifests)
        {
            if (Manifests.TryGetValue(dir, out var cached)) return cached;
        }
        var made = MakeManifest(dir);
        lock (Manifests) Manifests[dir] = made;
        return made;
    }

    private static readonly Dictionary<string, List<JsonElement>> Manifests = [];

    private static List<JsonElement> MakeManifest(string dir)
    {
        string script = Path.Combine(TestEnvironment.RepoRoot, "tools", "fixtures", "ext4-manifest.py");
        string output = TestEnvironment.RunChecked("python3", [script, dir], timeout: TimeSpan.FromMinutes(5));
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
    }
}
