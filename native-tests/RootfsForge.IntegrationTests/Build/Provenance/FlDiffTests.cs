using System.Text.Json;
using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Provenance;

/// <summary>
/// <c>fl diff</c> between two trees that differ in known ways, as an ext4 image (mke2fs -d), a GNU tar, a directory
/// and .fl files packed from them, against Python's view of the same trees (tree-diff-oracle.py: os.lstat, tarfile).
/// </summary>
public class FlDiffTests
{
    private static string Oracle => Path.Combine(TestEnvironment.RepoRoot, "native-tests", "RootfsForge.IntegrationTests", "Build", "Provenance", "tree-diff-oracle.py");

    /// <summary>Two trees: B is A with one change of every kind fl diff reports.</summary>
    private static (string A, string B) MakeTrees(string dir)
    {
        string a = Path.Combine(dir, "a"), b = Path.Combine(dir, "b");
        Directory.CreateDirectory(Path.Combine(a, "etc"));
        Directory.CreateDirectory(Path.Combine(a, "usr", "bin"));
        Directory.CreateDirectory(Path.Combine(a, "var", "lib", "gone"));
        File.WriteAllText(Path.Combine(a, "etc", "motd"), "hello\n");
        File.WriteAllText(Path.Combine(a, "etc", "same-size"), "aaaa\n");
        File.WriteAllText(Path.Combine(a, "etc", "hostname"), "a\n");
        File.WriteAllText(Path.Combine(a, "etc", "shadow"), "root:*:1::::::\n");
        File.WriteAllBytes(Path.Combine(a, "usr", "bin", "tool"), Flist.TreeFixtures.Random(1_300_000, 5));
        File.WriteAllText(Path.Combine(a, "var", "lib", "gone", "file"), "x");
        File.WriteAllText(Path.Combine(a, "becomes-dir"), "x");
        File.CreateSymbolicLink(Path.Combine(a, "usr", "link"), "bin/tool");
        TestEnvironment.RunChecked("chmod", ["755", Path.Combine(a, "usr", "bin", "tool")]);
        TestEnvironment.RunChecked("chmod", ["640", Path.Combine(a, "etc", "shadow")]);
        TestEnvironment.RunChecked("cp", ["-a", a, b]);

        File.WriteAllText(Path.Combine(b, "etc", "motd"), "hello, world\n");           // content, other size
        File.WriteAllText(Path.Combine(b, "etc", "same-size"), "bbbb\n");              // content, same size
        File.WriteAllText(Path.Combine(b, "etc", "added"), "new\n");                   // added
        Directory.Delete(Path.Combine(b, "var", "lib", "gone"), true);                 // removed (dir + file)
        File.Delete(Path.Combine(b, "becomes-dir"));
        Directory.CreateDirectory(Path.Combine(b, "becomes-dir"));                     // type
        File.Delete(Path.Combine(b, "usr", "link"));
        File.CreateSymbolicLink(Path.Combine(b, "usr", "link"), "bin/other");          // target
        TestEnvironment.RunChecked("chmod", ["600", Path.Combine(b, "etc", "shadow")]); // mode
        TestEnvironment.RunChecked("chown", ["1000:42", Path.Combine(b, "etc", "hostname")]); // owner
        var tool = File.ReadAllBytes(Path.Combine(b, "usr", "bin", "tool"));
        tool[700_000] ^= 1;                                                            // content of the second 512 KiB block
        File.WriteAllBytes(Path.Combine(b, "usr", "bin", "tool"), tool);
        return (a, b);
    }

    /// <summary>(path, change, type, field → [old, new]) from the CLI's rootfsforge.diff/v1 document.</summary>
    private static SortedDictionary<string, string> FromCli(string json)
    {
        using var doc = JsonDocument.Parse(json);
        Assert.Equal("rootfsforge.diff/v1", doc.RootElement.GetProperty("schema").GetString());
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var e in doc.RootElement.GetProperty("entries").EnumerateArray())
        {
            var fields = new SortedDictionary<string, string>(StringComparer.Ordinal);
            if (e.TryGetProperty("fields", out var fs))
                foreach (var f in fs.EnumerateArray())
                    fields[f.GetProperty("field").GetString()!] = f.GetProperty("old").GetString() + "->" + f.GetProperty("new").GetString();
            result[e.GetProperty("path").GetString()!] =
                $"{e.GetProperty("change").GetString()} {e.GetProperty("type").GetString()} {string.Join(";", fields.Select(f => f.Key + "=" + f.Value))}";
        }
        return result;
    }

    private static SortedDictionary<string, string> FromPython(string a, string b)
    {
        string json = TestEnvironment.RunChecked("python3", [Oracle, a, b]);
        using var doc = JsonDocument.Parse(json);
        var result = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            var fields = new SortedDictionary<string, string>(StringComparer.Ordinal);
            foreach (var f in p.Value[2].EnumerateObject()) fields[f.Name] = f.Value[0].GetString() + "->" + f.Value[1].GetString();
            result[p.Name] = $"{p.Value[0].GetString()} {p.Value[1].GetString()} {string.Join(";", fields.Select(f => f.Key + "=" + f.Value))}";
        }
        return result;
    }

    private static void RequireAll()
    {
        Skip.IfNot(File.Exists(TestEnvironment.CliDll), "the CLI is not built");
        TestEnvironment.RequireRoot("chown to other owners and keep them in the trees");
        TestEnvironment.RequireTool("python3");
        TestEnvironment.RequireTool("mke2fs");
    }

    [SkippableFact]
    public void Ext4Image_Tar_Directory_Fl_AllAgreeWithPython()
    {
        RequireAll();
        var dir = TestEnvironment.NewTempDir("rff-diff");
        var (a, b) = MakeTrees(dir);
        string aImg = Path.Combine(dir, "a.ext4"), bTar = Path.Combine(dir, "b.tar");
        TestEnvironment.RunChecked("mke2fs", ["-q", "-F", "-t", "ext4", "-d", a, aImg, "16M"]);
        TestEnvironment.RunChecked("tar", ["--numeric-owner", "-cf", bTar, "-C", b, "."]);
        var expected = FromPython(a, bTar);
        Assert.Equal(expected, FromPython(a, b)); // the oracle agrees with itself on a directory and its tar
        Assert.Equal(10, expected.Count);          // the changes MakeTrees made, and nothing else (lost+found aside)

        // ext4 image vs tar. mke2fs adds lost+found, which only A has.
        var (code, stdout, stderr) = TestEnvironment.RunCli("fl", "diff", aImg, bTar, "--json");
        Assert.True(code == 1, stderr);
        var got = FromCli(stdout);
        Assert.Equal("removed directory ", got["lost+found"]);
        got.Remove("lost+found");
        Assert.Equal(expected, got);

        // directory vs directory, and .fl vs .fl (content compared by block keys, new blocks counted).
        (code, stdout, stderr) = TestEnvironment.RunCli("fl", "diff", a, b, "--json");
        Assert.True(code == 1, stderr);
        Assert.Equal(expected, FromCli(stdout));
        string aFl = Path.Combine(dir, "a.fl"), bFl = Path.Combine(dir, "b.fl"), store = $"dir://{dir}/store";
        Assert.Equal(0, TestEnvironment.RunCli("fl", "pack", a, "-o", aFl, "--store", store, "-q").ExitCode);
        Assert.Equal(0, TestEnvironment.RunCli("fl", "pack", b, "-o", bFl, "--store", store, "-q").ExitCode);
        (code, stdout, stderr) = TestEnvironment.RunCli("fl", "diff", aFl, bFl, "--json");
        Assert.True(code == 1, stderr);
        Assert.Equal(expected, FromCli(stdout));
        using var doc = JsonDocument.Parse(stdout);
        var blocks = doc.RootElement.GetProperty("blocks");
        // B's new content: motd (13 B), same-size (5 B), added (4 B) and tool's second 512 KiB block (byte 700 000
        // changed); tool's first and third blocks are shared.
        Assert.Equal(4, blocks.GetProperty("newBlocks").GetInt64());
        Assert.Equal(13 + 5 + 4 + 524_288, blocks.GetProperty("newBytes").GetInt64());

        // The human form names each change; identical trees exit 0.
        (code, stdout, _) = TestEnvironment.RunCli("fl", "diff", aFl, bFl);
        Assert.Equal(1, code);
        Assert.Contains("~ /etc/shadow: mode 0640 -> 0600", stdout);
        Assert.Contains("+ /etc/added (file)", stdout);
        Assert.Contains("- /var/lib/gone (directory)", stdout);
        Assert.Contains("~ /usr/link: target bin/tool -> bin/other", stdout);
        Assert.Contains("new blocks: 4 of", stdout);
        (code, stdout, stderr) = TestEnvironment.RunCli("fl", "diff", b, bFl);
        Assert.True(code == 0, stdout + stderr);
        Assert.Contains("0 added, 0 removed, 0 changed", stdout);
    }

    [SkippableFact]
    public void UsageAndBadInput_ExitCodes()
    {
        Skip.IfNot(File.Exists(TestEnvironment.CliDll), "the CLI is not built");
        var dir = TestEnvironment.NewTempDir("rff-diff-bad");
        Assert.Equal(2, TestEnvironment.RunCli("fl", "diff", dir).ExitCode);
        Assert.Equal(2, TestEnvironment.RunCli("fl", "diff", dir, Path.Combine(dir, "missing")).ExitCode);
        string junk = Path.Combine(dir, "junk.tar");
        File.WriteAllBytes(junk, Flist.TreeFixtures.Random(10_000, 1));
        Assert.Equal(3, TestEnvironment.RunCli("fl", "diff", dir, junk).ExitCode);
        string fakeFl = Path.Combine(dir, "fake.fl");
        File.WriteAllBytes(fakeFl, [.. "SQLite format 3\0"u8, .. Flist.TreeFixtures.Random(4_000, 2)]);
        Assert.Equal(3, TestEnvironment.RunCli("fl", "diff", fakeFl, dir).ExitCode);
    }
}
