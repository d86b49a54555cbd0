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

    /// <summary>
    /// Starts <paramref name="fileName"/> with the arguments for a free port and waits until it listens there. The port
    /// is free when picked but not reserved: when another process takes it first, the server exits (or something else
    /// answers on the port), so the start is tried again on a new port, up to three times.
    /// </summary>
    public static ServerProcess Start(string fileName, Func<int, IEnumerable<string>> args, string? workingDirectory = null)
    {
        for (int attempt = 1; ; attempt++)
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
            bool listening;
            try
            {
                listening = WaitUntilListening(p, port, TimeSpan.FromSeconds(30));
            }
            catch
            {
                server.Dispose();
                throw;
            }
            if (listening) return server;
            server.Dispose();
            if (attempt == 3) throw new InvalidOperationException($"{fileName} did not start listening on a free port in {attempt} tries");
        }
    }

    /// <summary>
    /// Waits until <paramref name="process"/> itself listens on 127.0.0.1:<paramref name="port"/>; false when it exits
    /// first or another process holds the port (a lost race for it).
    /// </summary>
    private static bool WaitUntilListening(Process process, int port, TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (true)
        {
            if (process.HasExited) return false;
            if (ListenerInode(port) is { } inode) return OwnsSocket(process, inode) ?? !process.HasExited;
            if (DateTime.UtcNow >= until) throw new TimeoutException($"nothing listens on 127.0.0.1:{port} after {timeout.TotalSeconds:0} s");
            Thread.Sleep(50);
        }
    }

    /// <summary>The socket inode listening on 127.0.0.1:<paramref name="port"/> or 0.0.0.0:<paramref name="port"/> (from /proc/net/tcp).</summary>
    private static string? ListenerInode(int port)
    {
        string hexPort = port.ToString("X4", System.Globalization.CultureInfo.InvariantCulture);
        foreach (var line in File.ReadLines("/proc/net/tcp").Skip(1))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            if (f.Length > 9 && f[3] == "0A" && f[1] is var local && local.EndsWith(":" + hexPort, StringComparison.Ordinal)
                && (local.StartsWith("0100007F:", StringComparison.Ordinal) || local.StartsWith("00000000:", StringComparison.Ordinal)))
                return f[9];
        }
        return null;
    }

    /// <summary>Whether one of the process's descriptors is socket <paramref name="inode"/>; null when /proc cannot tell.</summary>
    private static bool? OwnsSocket(Process process, string inode)
    {
        try
        {
            foreach (var fd in Directory.EnumerateFileSystemEntries($"/proc/{process.Id}/fd"))
                if (new FileInfo(fd).LinkTarget == $"socket:[{inode}]") return true;
            return false;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
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
