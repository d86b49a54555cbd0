using System.Text;
using System.Text.Json;
using RootfsForge.Flist;
using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Flist;

/// <summary>
/// The container flist's /.startup.toml: parsed back by python's tomllib (an independent TOML 1.0 parser) and laid out
/// like rfs's own files, whose sizes are known from the rfs-made fixtures (docs/flist-format.md §11).
/// </summary>
public class StartupTomlTests
{
    private static JsonElement Parse(byte[] toml)
    {
        TestEnvironment.RequireTool("python3");
        var dir = TestEnvironment.NewTempDir("rff-toml");
        var path = Path.Combine(dir, "s.toml");
        File.WriteAllBytes(path, toml);
        var json = TestEnvironment.RunChecked("python3", ["-c",
            "import tomllib,json,sys; print(json.dumps(tomllib.load(open(sys.argv[1],'rb'))))", path]);
        return JsonDocument.Parse(json).RootElement;
    }

    [SkippableFact]
    public void AlpineLikeImage_MatchesRfsLayoutByteForByte()
    {
        // alpine:latest: Cmd ["/bin/sh"], the usual PATH, no WorkingDir. rfs wrote 192 bytes for it (alpine-latest.fl).
        var bytes = StartupToml.Render([], ["/bin/sh"], ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], null);
        Assert.Equal(192, bytes.Length);
        Assert.Equal("""
            [startup.entry]
            name = "core.system"

            [startup.entry.args]
            args = []
            dir = "/"
            name = "/bin/sh"

            [startup.entry.args.env]
            PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

            """.Replace("\r\n", "\n"), Encoding.UTF8.GetString(bytes));
    }

    [SkippableFact]
    public void EntrypointCmdEnvAndDir_RoundTripThroughATomlParser()
    {
        var bytes = StartupToml.Render(["/usr/local/bin/docker-entrypoint.sh", "--flag"], ["redis-server", "say \"hi\"\\ \u0001"],
            ["PATH=/bin", "A=b=c", "weird.key=1", "EMPTY=", "NOVALUE", "PATH=/usr/bin"], "/data");
        var root = Parse(bytes);
        var entry = root.GetProperty("startup").GetProperty("entry");
        Assert.Equal("core.system", entry.GetProperty("name").GetString());
        var args = entry.GetProperty("args");
        Assert.Equal("/usr/local/bin/docker-entrypoint.sh", args.GetProperty("name").GetString());
        Assert.Equal(["--flag", "redis-server", "say \"hi\"\\ \u0001"], args.GetProperty("args").EnumerateArray().Select(a => a.GetString()!));
        Assert.Equal("/data", args.GetProperty("dir").GetString());
        var env = args.GetProperty("env");
        Assert.Equal("/usr/bin", env.GetProperty("PATH").GetString());
        Assert.Equal("b=c", env.GetProperty("A").GetString());
        Assert.Equal("1", env.GetProperty("weird.key").GetString());
        Assert.Equal("", env.GetProperty("EMPTY").GetString());
        Assert.False(env.TryGetProperty("NOVALUE", out _));
    }

    [SkippableFact]
    public void NoEntrypointNoCmd_RunsAShell()
    {
        var args = Parse(StartupToml.Render([], [], [], "")).GetProperty("startup").GetProperty("entry").GetProperty("args");
        Assert.Equal("/bin/sh", args.GetProperty("name").GetString());
        Assert.Equal(0, args.GetProperty("args").GetArrayLength());
        Assert.Equal("/", args.GetProperty("dir").GetString());
    }
}
