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

    /// <summary>
    /// The reader (used by container lint on files from untrusted images) against tomllib on files written by hand in
    /// the shapes rfs and the 0-hub write: literal and basic strings, escapes, quoted keys, arrays, other tables.
    /// </summary>
    [SkippableTheory]
    [InlineData("[startup.entry]\nname = \"core.system\"\n\n[startup.entry.args]\nname = '/bin/sh'\nargs = [ \"-c\", 'echo \\\\n' ]\ndir = \"/srv\"\n\n[startup.entry.args.env]\n\"A.B\" = \"x\\ty\\u00e9\"\nPATH = \"/bin\"\n")]
    [InlineData("# comment\n[startup.entry.args]\nname = \"/usr/bin/app\"\nargs = []\n[other]\nkey = \"ignored\"\n")]
    [InlineData("[ startup . entry . args ]\nname = \"\\\"quoted\\\"\"\nargs = [\"a\",\"b\" ,  \"c\"]\n")]
    public void Read_agrees_with_tomllib(string text)
    {
        var entry = StartupToml.Read(text);
        var args = Parse(Encoding.UTF8.GetBytes(text)).GetProperty("startup").GetProperty("entry").GetProperty("args");
        Assert.NotNull(entry);
        Assert.Equal(args.GetProperty("name").GetString(), entry.Name);
        Assert.Equal(args.GetProperty("args").EnumerateArray().Select(a => a.GetString()!), entry.Args);
        Assert.Equal(args.TryGetProperty("dir", out var dir) ? dir.GetString() : "/", entry.Dir);
        var env = args.TryGetProperty("env", out var e) ? e.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!) : [];
        Assert.Equal(env.OrderBy(p => p.Key, StringComparer.Ordinal), entry.Env.OrderBy(p => p.Key, StringComparer.Ordinal));
    }

    /// <summary>Hostile or broken files: one ImageFormatException naming the line, never a crash or a guess.</summary>
    [Theory]
    [InlineData("[startup.entry.args]\nname = \"/bin/sh\n", 2)]                  // a string that does not end
    [InlineData("[startup.entry.args]\nname = \"\\q\"\n", 2)]                  // an unknown escape
    [InlineData("[startup.entry.args]\nname = \"\\uD800\"\n", 2)]              // a surrogate code point
    [InlineData("[startup.entry.args]\nname = \"\\u12\"\n", 2)]                // a short \u escape
    [InlineData("[startup.entry.args]\nargs = [\"a\" \"b\"]\n", 2)]             // no comma between items
    [InlineData("[startup.entry.args]\nargs = [\"a\",\n", 2)]                   // an array over several lines
    [InlineData("[[startup.entry.args]]\nname = \"/bin/sh\"\n", 1)]             // an array of tables
    [InlineData("[startup.entry.args]\nname\n", 2)]                             // no '='
    [InlineData("[startup.entry.args]\nname = /bin/sh\n", 2)]                   // a bare value
    public void Read_refuses_what_it_does_not_understand(string text, int line)
    {
        var e = Assert.Throws<ImageFormatException>(() => StartupToml.Read(text));
        Assert.Equal(StartupToml.Path, e.Structure);
        Assert.Contains($": line {line}: ", e.Message);
    }
}
