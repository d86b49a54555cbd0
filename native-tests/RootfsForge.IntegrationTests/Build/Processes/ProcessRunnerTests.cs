using System.Diagnostics;
using RootfsForge.NativeTests.Support;
using RootfsForge.Processes;
using Xunit;

namespace RootfsForge.NativeTests.Vm;

/// <summary>
/// The build layer's one process runner, against real processes: argument lists reach the program verbatim, the
/// environment is exactly the one given, output is captured, streamed or logged, failures name the command and code
/// (never the environment), and cancellation stops the whole process group, background children included.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class ProcessRunnerTests
{
    [Fact]
    public async Task Arguments_are_passed_verbatim_and_output_is_captured()
    {
        string[] args = ["a b", "'quoted'", "$HOME", "*", "", "semi;colon"];
        var result = await ProcessRunner.RunAsync(new ProcessSpec("printf", ["[%s]\n", .. args]), default);
        Assert.Equal(0, result.ExitCode);
        Assert.Equal(string.Concat(args.Select(a => $"[{a}]\n")), result.StandardOutput);
        Assert.Equal("", result.StandardError);
    }

    [Fact]
    public async Task The_environment_is_exactly_the_one_given()
    {
        Environment.SetEnvironmentVariable("ROOTFSFORGE_TEST_LEAK", "leaked");
        var result = await ProcessRunner.RunAsync(new ProcessSpec("env", [])
        {
            Environment = new Dictionary<string, string> { ["ONLY"] = "this", ["PATH"] = "/usr/bin:/bin" },
        }, default);
        Assert.Equal(["ONLY=this", "PATH=/usr/bin:/bin"], result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order());
        var host = await ProcessRunner.RunAsync(new ProcessSpec("env", []), default);
        Assert.DoesNotContain("ROOTFSFORGE_TEST_LEAK", host.StandardOutput);
        Assert.Contains("LC_ALL=C", host.StandardOutput);
    }

    [Fact]
    public async Task A_failure_names_the_command_and_code_and_the_end_of_stderr_but_not_the_environment()
    {
        var spec = new ProcessSpec("sh", ["-c", "echo some detail >&2; exit 3"])
        {
            Environment = new Dictionary<string, string> { ["PATH"] = ProcessSpec.SystemPath, ["TOKEN"] = "s3cret-value" },
        };
        var e = await Assert.ThrowsAsync<ProcessFailedException>(() => ProcessRunner.RunAsync(spec, default));
        Assert.Equal(3, e.ExitCode);
        Assert.EndsWith("sh -c 'echo some detail >&2; exit 3'", e.Command);
        Assert.Contains("some detail", e.Message); // the child's stderr is shown to the user
        Assert.DoesNotContain("s3cret", e.ToString());
        var failed = await ProcessRunner.RunAsync(spec with { ThrowOnFailure = false }, default);
        Assert.Equal(3, failed.ExitCode);
    }

    [Fact]
    public async Task A_missing_program_is_named()
    {
        var e = await Assert.ThrowsAsync<FileNotFoundException>(() => ProcessRunner.RunAsync(new ProcessSpec("no-such-program-rff", []), default));
        Assert.Contains("no-such-program-rff", e.Message);
    }

    [Fact]
    public async Task Lines_are_streamed_with_the_prefix_and_log_files_get_both_streams()
    {
        var lines = new List<string>();
        await ProcessRunner.RunAsync(new ProcessSpec("sh", ["-c", "echo out1; echo err1 >&2; printf 'no newline'"])
        {
            Output = ProcessOutput.Lines(lines.Add, "[t] "),
        }, default);
        Assert.Equal(["[t] err1", "[t] no newline", "[t] out1"], lines.Order(StringComparer.Ordinal));

        var dir = TestEnvironment.NewTempDir("rff-proc");
        try
        {
            var log = Path.Combine(dir, "log");
            await ProcessRunner.RunAsync(new ProcessSpec("sh", ["-c", "echo out; echo err >&2"]) { Output = ProcessOutput.LogFile(log) }, default);
            Assert.Equal(["err", "out"], File.ReadAllLines(log).Order(StringComparer.Ordinal));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public async Task Cancellation_stops_the_process_group_including_background_children()
    {
        var dir = TestEnvironment.NewTempDir("rff-proc");
        try
        {
            var pids = Path.Combine(dir, "pids");
            using var cts = new CancellationTokenSource();
            var sw = Stopwatch.StartNew();
            // A child in the background that ignores SIGTERM, and the foreground one: both must be gone afterwards.
            var run = ProcessRunner.RunAsync(new ProcessSpec("sh", ["-c",
                $"(trap '' TERM; sleep 300) & echo $! > '{pids}'; echo $$ >> '{pids}'; exec sleep 300"]), cts.Token);
            while (!File.Exists(pids) || File.ReadAllLines(pids).Length < 2) await Task.Delay(50);
            cts.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run);
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(30), $"took {sw.Elapsed}");
            foreach (var pid in File.ReadAllLines(pids).Select(int.Parse))
                Assert.True(await GoneSoonAsync(pid), $"process {pid} still runs");
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public async Task A_started_process_is_stopped_when_disposed()
    {
        var process = ProcessRunner.Start(new ProcessSpec("sleep", ["300"]) { Output = ProcessOutput.Discard });
        int pid = process.Id;
        Assert.True(IsAlive(pid));
        await process.DisposeAsync();
        Assert.False(IsAlive(pid), "the leader was waited for");
    }

    /// <summary>A SIGKILLed process dies when next scheduled: give a loaded machine a few seconds.</summary>
    private static async Task<bool> GoneSoonAsync(int pid)
    {
        for (int i = 0; i < 100 && IsAlive(pid); i++) await Task.Delay(50);
        return !IsAlive(pid);
    }

    /// <summary>True when the pid exists and is not a zombie.</summary>
    private static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)] != 'Z';
        }
        catch (IOException)
        {
            return false;
        }
    }
}
