using RootfsForge.Sources.Directories;
using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Flist;

/// <summary>The `fl` commands end to end through the built CLI (`push`: native-tests/RootfsForge.IntegrationTests/Cli/HubCliTests.cs).</summary>
public class FlCliTests
{
    private static void RequireCommand(string name)
    {
        Skip.IfNot(File.Exists(TestEnvironment.CliDll), "the CLI is not built");
        var (code, stdout, _) = TestEnvironment.RunCli("--help");
        Skip.If(code != 0 || !stdout.Contains($"  {name} "), $"the '{name}' command is not registered in Commands/All.cs yet");
    }

    private static string MakeTree(string dir)
    {
        var root = Path.Combine(dir, "src");
        Directory.CreateDirectory(Path.Combine(root, "usr", "bin"));
        File.WriteAllBytes(Path.Combine(root, "usr", "bin", "tool"), TreeFixtures.Random(1_500_000, 3));
        File.WriteAllText(Path.Combine(root, "usr", "readme"), "hello\n");
        File.WriteAllBytes(Path.Combine(root, "empty"), []);
        File.CreateSymbolicLink(Path.Combine(root, "usr", "tool-link"), "bin/tool");
        TestEnvironment.RunChecked("chmod", ["755", Path.Combine(root, "usr", "bin", "tool")]);
        return root;
    }

    [SkippableFact]
    public void Pack_PublishDirectoryMissing_IsUsageErrorBeforeAnyWork()
    {
        RequireCommand("fl");
        var dir = TestEnvironment.NewTempDir("rff-cli");
        var src = MakeTree(dir);
        var fl = Path.Combine(dir, "out.fl");
        var (code, _, err) = TestEnvironment.RunCli("fl", "pack", src, "-o", fl, "--store", $"dir://{dir}/store",
            "--publish", Path.Combine(dir, "no-such-dir"));
        Assert.Equal(2, code);
        Assert.Contains("--publish directory", err);
        Assert.False(File.Exists(fl));
        Assert.False(Directory.Exists(Path.Combine(dir, "store")), "no block was uploaded");
    }

    [SkippableFact]
    public void Pack_Verify_Extract_Cat()
    {
        RequireCommand("fl");
        var dir = TestEnvironment.NewTempDir("rff-cli");
        var src = MakeTree(dir);
        var fl = Path.Combine(dir, "out.fl");
        var www = Path.Combine(dir, "www");
        Directory.CreateDirectory(www);
        var (code, _, err) = TestEnvironment.RunCli("fl", "pack", src, "-o", fl, "--store", $"dir://{dir}/store", "--publish", www);
        Assert.True(code == 0, err);
        Assert.Contains("files", err);
        Assert.Contains("ZOS cannot read it", err);
        Assert.Equal(File.ReadAllBytes(fl), File.ReadAllBytes(Path.Combine(www, "out.fl")));
        Assert.Single(Directory.GetFiles(www));

        (code, _, err) = TestEnvironment.RunCli("fl", "verify", fl);
        Assert.True(code == 0, err);

        var (catCode, catOut, catErr) = TestEnvironment.RunCli("fl", "cat", fl, "usr/readme");
        Assert.True(catCode == 0, catErr);
        Assert.Equal("hello\n", catOut);

        var outDir = Path.Combine(dir, "out");
        (code, _, err) = TestEnvironment.RunCli("fl", "extract", fl, "-o", outDir);
        Assert.True(code == 0, err);
        Assert.Equal(TreeFixtures.Canonical(new DirectorySource(src).Walk()).Skip(1),
            TreeFixtures.Canonical(new DirectorySource(outDir).Walk()).Skip(1));

        // A missing block: verify fails, extract fails and leaves nothing behind.
        foreach (var f in Directory.GetFiles(Path.Combine(dir, "store"), "*", SearchOption.AllDirectories)) File.Delete(f);
        (code, _, err) = TestEnvironment.RunCli("fl", "verify", fl);
        Assert.NotEqual(0, code);
        Assert.Contains("missing", err);
        var outDir2 = Path.Combine(dir, "out2");
        (code, _, err) = TestEnvironment.RunCli("fl", "extract", fl, "-o", outDir2);
        Assert.NotEqual(0, code);
        Assert.Contains("missing", err);
        Assert.False(Directory.Exists(outDir2) && Directory.EnumerateFileSystemEntries(outDir2).Any());
    }

    [SkippableFact]
    public async Task Pack_FromTarGz_MatchesPackFromDirectory()
    {
        RequireCommand("fl");
        TestEnvironment.RequireTool("tar");
        var dir = TestEnvironment.NewTempDir("rff-cli");
        var src = MakeTree(dir);
        var tgz = Path.Combine(dir, "src.tar.gz");
        TestEnvironment.RunChecked("tar", ["-czf", tgz, "-C", src, "."]);
        var (code, _, err) = TestEnvironment.RunCli("fl", "pack", tgz, "-o", Path.Combine(dir, "t.fl"), "--store", $"dir://{dir}/store");
        Assert.True(code == 0, err);
        (code, _, err) = TestEnvironment.RunCli("fl", "pack", src, "-o", Path.Combine(dir, "d.fl"), "--store", $"dir://{dir}/store");
        Assert.True(code == 0, err);
        await using var fromTar = RootfsForge.Sources.Flist.FlistSource.Open(Path.Combine(dir, "t.fl"));
        await using var fromDir = RootfsForge.Sources.Flist.FlistSource.Open(Path.Combine(dir, "d.fl"));
        Assert.Equal(TreeFixtures.Canonical(fromDir.Walk()).Skip(1), TreeFixtures.Canonical(fromTar.Walk()).Skip(1));
    }

    [SkippableFact]
    public void Info_And_Ls_OnRfsFixture()
    {
        RequireCommand("fl");
        var fixture = Path.Combine(TestEnvironment.DataDir, "rfs", "alpine-latest.fl");
        var (code, stdout, err) = TestEnvironment.RunCli("fl", "info", fixture);
        Assert.True(code == 0, err);
        Assert.Contains("527 (100 directories, 92 files, 335 symlinks, 0 other)", stdout);
        Assert.Contains("00-ff dir:///tmp/rfs-e2e-tests/store", stdout);
        (code, stdout, err) = TestEnvironment.RunCli("fl", "ls", fixture);
        Assert.True(code == 0, err);
        Assert.Equal(527, stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        Assert.Contains("/.startup.toml\n", stdout);
    }

    [SkippableFact]
    public void Truncated_Fl_IsBadInputExitCode()
    {
        RequireCommand("fl");
        var dir = TestEnvironment.NewTempDir("rff-cli");
        var fl = Path.Combine(dir, "t.fl");
        var bytes = File.ReadAllBytes(Path.Combine(TestEnvironment.DataDir, "rfs", "redis-latest.fl"));
        File.WriteAllBytes(fl, bytes[..20000]);
        var (code, _, err) = TestEnvironment.RunCli("fl", "info", fl);
        Assert.Equal(3, code);
        Assert.Contains("truncated", err);
    }

    /// <summary>
    /// docs/flist-format.md §2.8 through the command: a parent cycle makes four inodes unreachable. info counts them
    /// (exit 0), verify reports each (exit 3), ls and extract fail before writing anything (exit 3) instead of
    /// extracting only "./".
    /// </summary>
    [SkippableFact]
    public void ParentCycle_VerifyAndExtractFail_InfoCounts()
    {
        RequireCommand("fl");
        var fl = FlistReaderTests.Crafted("hello-world-latest.fl", "update inode set parent = 13 where ino = 11");
        var (code, stdout, err) = TestEnvironment.RunCli("fl", "info", fl);
        Assert.True(code == 0, err);
        Assert.Contains("unreachable: 4 inodes", stdout);
        (code, _, err) = TestEnvironment.RunCli("fl", "verify", fl);
        Assert.Equal(3, code);
        Assert.Contains("inode 11: 'dev' is not reachable from the root: its parents form a cycle (11 -> 13 -> 11)", err);
        Assert.Contains("4 of 15 inodes are not reachable", err);
        (code, stdout, _) = TestEnvironment.RunCli("fl", "ls", fl);
        Assert.Equal((3, ""), (code, stdout));
        var dir = Path.GetDirectoryName(fl)!;
        foreach (var output in new[] { "out", "out.tar" })
        {
            (code, _, err) = TestEnvironment.RunCli("fl", "extract", fl, "-o", Path.Combine(dir, output));
            Assert.Equal(3, code);
            Assert.Contains("inode 11", err);
        }
        Assert.Equal(["hello-world-latest.fl"], Directory.GetFileSystemEntries(dir).Select(Path.GetFileName));
    }

    /// <summary>
    /// docs/flist-format.md §2.8: an mtime of 2^63 − 1 and a size of 2^63 − 1 are shown, not crashed on or turned
    /// negative; names with a newline, an escape sequence or a NUL are printed escaped, never raw.
    /// </summary>
    [SkippableFact]
    public void ExtremeValuesAndControlCharacters_ArePrintedSafely()
    {
        RequireCommand("fl");
        var fl = FlistReaderTests.Crafted("hello-world-latest.fl",
            "update inode set size = 9223372036854775807 where ino = 3",
            "update inode set mtime = 9223372036854775807 where ino = 2",
            "update inode set mtime = -9223372036854775808 where ino = 5",
            "update inode set name = cast(x'6574630a1b5b33316d78' as text) where ino = 4",
            "update inode set name = cast(x'736800796f75' as text) where ino = 13");
        var (code, stdout, err) = TestEnvironment.RunCli("fl", "info", fl);
        Assert.True(code == 0, err);
        Assert.Contains("content:     185 bytes in 2 block rows", stdout);
        Assert.Contains("incomplete:  1 files", stdout);
        Assert.DoesNotContain("-", stdout.Split('\n').Single(l => l.StartsWith("content:", StringComparison.Ordinal)));
        (code, stdout, err) = TestEnvironment.RunCli("fl", "ls", "-l", fl);
        Assert.True(code == 0, err);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(lines, l => l.Contains("@9223372036854775807") && l.EndsWith(" /.startup.toml", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("@-9223372036854775808") && l.EndsWith(" /etc", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains(" 9223372036854775807 ") && l.EndsWith(" /hello", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.EndsWith(" /etc\\x0a\\x1b[31mx", StringComparison.Ordinal));
        Assert.Equal(14, lines.Length); // dev/shm is skipped
        Assert.DoesNotContain(stdout + err, c => char.IsControl(c) && c != '\n');
        Assert.Contains("/dev: entry named 'sh\\x00you' is not a valid name; skipped", err);
        Assert.Contains("/hello: file of 9223372036854775807 bytes has 1 block rows, expected 17592186044416", err);
    }
}
