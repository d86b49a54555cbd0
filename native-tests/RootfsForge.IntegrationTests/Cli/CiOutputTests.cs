using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using RootfsForge.NativeTests.Flist;
using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Cli;

/// <summary>
/// What CI sees of the command (issue 12): the --json documents (docs/cli-json.md) checked against the written files
/// (.NET's SHA-256 of the file, its length, GNU tar's listing), exit 4 for a failed lint, progress lines in a
/// non-terminal stderr and the width-fitted line on a terminal (util-linux script with a fixed size), and store secrets
/// that never appear in the process's argv (/proc/PID/cmdline) while the upload authenticates (s3rver refuses keys it
/// does not know).
/// </summary>
public class CiOutputTests
{
    private const string Image = "/var/cache/rootfsforge/debian12-zstd.qcow2";

    private static void RequireImage() => Skip.IfNot(File.Exists(Image), $"needs the cached Debian test image {Image} (tools/test.sh builds it)");

    [SkippableFact]
    public void Extract_json_describes_the_written_tar()
    {
        RequireImage();
        TestEnvironment.RequireTool("tar");
        var dir = TestEnvironment.NewTempDir("rff-json");
        try
        {
            string tar = Path.Combine(dir, "out.tar");
            var env = new Dictionary<string, string> { [ProgressIntervalVariable] = "0.2" };
            var (code, stdout, stderr) = TestEnvironment.Run("dotnet", [TestEnvironment.CliDll, "extract", Image, "-o", tar, "--json"],
                timeout: TimeSpan.FromMinutes(5), environment: env);
            Assert.True(code == 0, stderr);
            using var doc = JsonDocument.Parse(stdout);
            var root = doc.RootElement;
            Assert.Equal("rootfsforge.extract/v1", root.GetProperty("schema").GetString());
            var output = root.GetProperty("output");
            Assert.Equal("tar", output.GetProperty("kind").GetString());
            Assert.Equal(tar, output.GetProperty("path").GetString());
            Assert.Equal(new FileInfo(tar).Length, output.GetProperty("bytes").GetInt64());
            using (var f = File.OpenRead(tar))
                Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(f)), output.GetProperty("sha256").GetString());
            long listed = TestEnvironment.RunChecked("tar", ["-tf", tar]).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
            Assert.Equal(listed, root.GetProperty("tree").GetProperty("entries").GetInt64());
            Assert.Equal(JsonValueKind.Array, root.GetProperty("warnings").ValueKind);

            // Standard error is a pipe here: plain progress lines, no carriage returns or escape sequences.
            var lines = stderr.Split('\n').Where(l => l.StartsWith("rootfsforge: progress: ", StringComparison.Ordinal)).ToList();
            Assert.True(lines.Count >= 2, stderr);
            Assert.DoesNotContain('\r', stderr);
            Assert.DoesNotContain('\e', stderr);
            Assert.Matches(@"^rootfsforge: progress: \d+%, [\d.]+ (B|KiB|MiB|GiB) of [\d.]+ (KiB|MiB|GiB), [\d,]+ entries", lines[0]);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private const string ProgressIntervalVariable = "ROOTFSFORGE_PROGRESS_INTERVAL";

    [SkippableFact]
    public void Json_with_a_tar_on_standard_output_is_a_usage_error()
    {
        RequireImage();
        var (code, stdout, stderr) = TestEnvironment.RunCli("extract", Image, "-o", "-", "--json");
        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Contains("--json", stderr);
        (code, _, _) = TestEnvironment.RunCli("extract", Image, "-o", "/tmp/never.tar", "-q", "-v");
        Assert.Equal(2, code);
    }

    [Fact]
    public void Lint_of_a_tree_without_a_kernel_exits_4_with_its_findings_in_json()
    {
        var dir = TestEnvironment.NewTempDir("rff-lint");
        try
        {
            Directory.CreateDirectory(Path.Combine(dir, "etc"));
            File.WriteAllText(Path.Combine(dir, "etc", "hostname"), "x\n");
            var (code, stdout, stderr) = TestEnvironment.RunCli("lint", dir, "--kind", "vm", "--json");
            Assert.True(code == 4, stderr + stdout);
            using var doc = JsonDocument.Parse(stdout);
            var lint = doc.RootElement.GetProperty("lint");
            Assert.Equal("rootfsforge.lint/v1", doc.RootElement.GetProperty("schema").GetString());
            Assert.Equal("vm", doc.RootElement.GetProperty("kind").GetString());
            Assert.False(lint.GetProperty("passed").GetBoolean());
            var failed = lint.GetProperty("findings").EnumerateArray()
                .Where(f => !f.GetProperty("passed").GetBoolean() && f.GetProperty("severity").GetString() == "error")
                .Select(f => f.GetProperty("id").GetString()).ToList();
            Assert.Contains("V1", failed);
            Assert.Equal(failed.Count, lint.GetProperty("errors").GetInt32());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [SkippableFact]
    public void On_a_terminal_the_progress_line_fits_its_width_reaches_100_and_is_cleared_once()
    {
        RequireImage();
        TestEnvironment.RequireTool("script");
        var dir = TestEnvironment.NewTempDir("rff-tty");
        try
        {
            string tar = Path.Combine(dir, "out.tar"), log = Path.Combine(dir, "typescript");
            // script(1) gives the command a pseudo-terminal; stty fixes its size at 50 columns.
            string inner = $"stty cols 50 rows 20; dotnet '{TestEnvironment.CliDll}' extract '{Image}' -o '{tar}'";
            // Standard input from /dev/null: script(1) would otherwise wait on the test host's.
            var (code, _, err) = TestEnvironment.Run("sh", ["-c", "script -qec \"$0\" \"$1\" < /dev/null > /dev/null", inner, log],
                timeout: TimeSpan.FromMinutes(5));
            Assert.True(code == 0, err);
            // After script's own header line; the console's keypad-mode switch (ESC [?1h ESC =, written by .NET at start-up) is
            // not part of the progress line.
            string text = File.ReadAllText(log);
            text = text[(text.IndexOf('\n', StringComparison.Ordinal) + 1)..].Replace("\e[?1h\e=", "", StringComparison.Ordinal);
            const string clear = "\r\e[K";
            Assert.Equal(1, CountOf(text, clear));
            string drawn = text[..text.IndexOf(clear, StringComparison.Ordinal)];
            var frames = drawn.Split('\r').Select(f => f.TrimEnd('\n')).Where(f => f.Length > 0).ToList();
            Assert.NotEmpty(frames);
            Assert.All(frames, f => Assert.True(f.Length < 50, $"'{f}' is {f.Length} columns"));
            Assert.StartsWith("100%", frames[^1]);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static int CountOf(string text, string part)
    {
        int n = 0;
        for (int i = text.IndexOf(part, StringComparison.Ordinal); i >= 0; i = text.IndexOf(part, i + part.Length, StringComparison.Ordinal)) n++;
        return n;
    }

    [SkippableFact]
    public void S3_credentials_from_the_environment_or_a_secrets_file_stay_off_argv_and_authenticate()
    {
        var dir = TestEnvironment.NewTempDir("rff-secrets");
        try
        {
            using var s3 = ServerProcess.StartS3rver(Path.Combine(dir, "s3data"));
            string tree = Path.Combine(dir, "tree");
            Directory.CreateDirectory(tree);
            var random = new Random(12);
            for (int i = 0; i < 40; i++)
            {
                var data = new byte[256 * 1024];
                random.NextBytes(data);
                File.WriteAllBytes(Path.Combine(tree, $"f{i}"), data);
            }
            string store = $"s3://127.0.0.1:{s3.Port}/blocks?region=us-east-1";
            var good = new Dictionary<string, string> { ["AWS_ACCESS_KEY_ID"] = "S3RVER", ["AWS_SECRET_ACCESS_KEY"] = "S3RVER" };

            var (code, argv, err) = RunWatchingArgv(["fl", "pack", tree, "-o", Path.Combine(dir, "a.fl"), "-s", store], good);
            Assert.True(code == 0, err);
            Assert.DoesNotContain("S3RVER", argv);
            Assert.DoesNotContain("S3RVER:S3RVER", err);
            // A run with a key s3rver does not know is refused: the credentials came from the environment. (The many-file
            // tree also checks that a store refusing writes ends the build instead of hanging it.)
            string one = Path.Combine(dir, "one");
            Directory.CreateDirectory(one);
            for (int i = 0; i < 40; i++) File.WriteAllBytes(Path.Combine(one, $"f{i}"), new byte[300_000].Select((_, j) => (byte)(j * 7 + i)).ToArray());
            var bad = new Dictionary<string, string> { ["AWS_ACCESS_KEY_ID"] = "NOBODY", ["AWS_SECRET_ACCESS_KEY"] = "TOPSECRET" };
            (code, _, err) = RunWatchingArgv(["fl", "pack", one, "-o", Path.Combine(dir, "b.fl"), "-s", store], bad);
            Assert.Equal(1, code);
            Assert.Contains("403", err);
            Assert.DoesNotContain("TOPSECRET", err);

            // A secrets file (fresh store contents: a new bucket folder would need a restart, so a second tree).
            File.WriteAllBytes(Path.Combine(tree, "extra"), [1, 2, 3]);
            string secrets = Path.Combine(dir, "secrets");
            File.WriteAllText(secrets, $"# store credentials\n{store} S3RVER:S3RVER\n");
            File.SetUnixFileMode(secrets, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            (code, argv, err) = RunWatchingArgv(["fl", "pack", tree, "-o", Path.Combine(dir, "c.fl"), "-s", store, "--store-secrets", secrets], bad);
            Assert.True(code == 0, err); // the file wins over the environment
            Assert.DoesNotContain("S3RVER", argv);
            var (verify, _, verr) = TestEnvironment.Run("dotnet", [TestEnvironment.CliDll, "fl", "verify", Path.Combine(dir, "c.fl"), "-s", store], environment: good);
            Assert.True(verify == 0, verr);

            // A password on the command line still works, with a warning and without showing it.
            string inline = $"s3://S3RVER:S3RVER@127.0.0.1:{s3.Port}/blocks?region=us-east-1";
            (code, _, err) = RunWatchingArgv(["fl", "pack", tree, "-o", Path.Combine(dir, "d.fl"), "-s", inline], bad);
            Assert.True(code == 0, err);
            Assert.Contains("carries a password on the command line", err);
            Assert.DoesNotContain("S3RVER:S3RVER", err);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [SkippableFact]
    public void Zdb_namespace_password_from_the_environment_stays_off_argv_and_opens_the_namespace()
    {
        TestEnvironment.RequireTool("python3");
        var dir = TestEnvironment.NewTempDir("rff-zdbsecret");
        // The 0-db stand-in (tools/zdb-standin): namespace 'secure' refuses SELECT without its password, as 0-db does.
        string portFile = Path.Combine(dir, "port");
        var psi = new ProcessStartInfo("python3") { UseShellExecute = false, RedirectStandardError = true };
        foreach (var a in new[] { Path.Combine(TestEnvironment.RepoRoot, "tools", "zdb-standin", "zdb_standin.py"), portFile, "secure:Sesame-42" })
            psi.ArgumentList.Add(a);
        using var server = Process.Start(psi)!;
        try
        {
            var clock = Stopwatch.StartNew();
            while (!File.Exists(portFile) && clock.Elapsed < TimeSpan.FromSeconds(30) && !server.HasExited) Thread.Sleep(50);
            Assert.True(File.Exists(portFile), "the zdb stand-in did not start");
            string store = $"zdb://127.0.0.1:{File.ReadAllText(portFile).Trim()}/secure";
            string tree = Path.Combine(dir, "tree");
            Directory.CreateDirectory(tree);
            for (int i = 0; i < 10; i++) File.WriteAllBytes(Path.Combine(tree, $"f{i}"), new byte[100_000].Select((_, j) => (byte)(j * 3 + i)).ToArray());

            var good = new Dictionary<string, string> { ["RFS_ZDB_PASSWORD"] = "Sesame-42" };
            var (code, argv, err) = RunWatchingArgv(["fl", "pack", tree, "-o", Path.Combine(dir, "a.fl"), "-s", store], good);
            Assert.True(code == 0, err);
            Assert.DoesNotContain("Sesame-42", argv);
            Assert.DoesNotContain("Sesame-42", err);
            var (verify, _, verr) = TestEnvironment.Run("dotnet", [TestEnvironment.CliDll, "fl", "verify", Path.Combine(dir, "a.fl"), "-s", store], environment: good);
            Assert.True(verify == 0, verr);

            // Without the password the namespace is refused: the password above really came from the environment.
            var wrong = new Dictionary<string, string> { ["RFS_ZDB_PASSWORD"] = "not-it" };
            (code, _, err) = RunWatchingArgv(["fl", "pack", tree, "-o", Path.Combine(dir, "b.fl"), "-s", store], wrong);
            Assert.Equal(1, code);
            Assert.Contains("Access denied", err);
            Assert.DoesNotContain("not-it", err);
            Assert.False(File.Exists(Path.Combine(dir, "b.fl")));
        }
        finally
        {
            server.Kill();
            server.WaitForExit();
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Runs the CLI and reads its /proc/PID/cmdline (NUL-separated argv) while it runs.</summary>
    private static (int Code, string Argv, string StdErr) RunWatchingArgv(string[] args, Dictionary<string, string> environment)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        psi.ArgumentList.Add(TestEnvironment.CliDll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in environment) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        var seen = new System.Text.StringBuilder();
        var deadline = Stopwatch.StartNew();
        while (!p.HasExited)
        {
            if (deadline.Elapsed > TimeSpan.FromMinutes(3))
            {
                p.Kill(entireProcessTree: true);
                Assert.Fail($"rootfsforge {string.Join(' ', args)} did not finish in 3 minutes");
            }
            try
            {
                seen.Append(File.ReadAllText($"/proc/{p.Id}/cmdline").Replace('\0', ' ')).Append('\n');
            }
            catch (IOException)
            {
            }
            Thread.Sleep(20);
        }
        p.WaitForExit();
        Assert.True(seen.Length > 0, "the process's argv was read while it ran");
        Assert.Contains("fl pack", seen.ToString());
        return (p.ExitCode, seen.ToString(), stderr.Result + stdout.Result);
    }
}
