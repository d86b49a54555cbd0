using System.Diagnostics;
using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Flist;

/// <summary>A server process started by a test on a free 127.0.0.1 port; killed (by its own handle) on dispose.</summary>
internal sealed class ServerProcess : IDisposable
{
    private readonly Process _process;

    private ServerProcess(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }

    public static ServerProcess Start(string fileName, Func<int, IEnumerable<string>> args, string? workingDirectory = null)
    {
        int port = FlistTestSupport.FreePort();
        var psi = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Path.GetTempPath(),
        };
        foreach (var a in args(port)) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        var server = new ServerProcess(p, port);
        try
        {
            FlistTestSupport.WaitForPort(port, TimeSpan.FromSeconds(30));
        }
        catch
        {
            server.Dispose();
            throw;
        }
        return server;
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
    }

    /// <summary>redis-server from Debian (speaks the same EXISTS/SET/GET as 0-db), no persistence.</summary>
    public static ServerProcess StartRedis()
    {
        TestEnvironment.RequireTool("redis-server");
        return Start("redis-server", port => ["--port", port.ToString(), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--protected-mode", "no"]);
    }

    /// <summary>s3rver 3 from npm, installed once into the fixture cache; bucket "blocks", credentials S3RVER:S3RVER.</summary>
    public static ServerProcess StartS3rver(string dataDir)
    {
        TestEnvironment.RequireTool("npm");
        TestEnvironment.RequireTool("node");
        string prefix = Path.Combine(TestEnvironment.FixtureDir, "npm-s3rver");
        string bin = Path.Combine(prefix, "node_modules", "s3rver", "bin", "s3rver.js");
        if (!File.Exists(bin))
        {
            Directory.CreateDirectory(prefix);
            var (code, _, err) = TestEnvironment.Run("npm", ["install", "--no-audit", "--no-fund", "--prefix", prefix, "s3rver@3"],
                timeout: TimeSpan.FromMinutes(5));
            Skip.If(code != 0 || !File.Exists(bin), $"npm install s3rver@3 failed: {err}");
        }
        Directory.CreateDirectory(dataDir);
        return Start("node", port => [bin, "-d", dataDir, "-a", "127.0.0.1", "-p", port.ToString(), "--silent",
            "--configure-bucket", "blocks"]);
    }
}
