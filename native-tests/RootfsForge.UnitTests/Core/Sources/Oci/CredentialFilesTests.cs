using System.Text;
using RootfsForge.NativeTests.Support;
using RootfsForge.Sources.Oci;
using Xunit;

namespace RootfsForge.NativeTests.Oci;

public class CredentialFilesTests
{
    private static string B64(string s) => Convert.ToBase64String(Encoding.UTF8.GetBytes(s));

    private static string Write(string dir, string relative, string json)
    {
        string path = Path.Combine(dir, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public void Order_ExplicitThenRegistryAuthFileThenXdgThenDocker()
    {
        string dir = TestEnvironment.NewTempDir("rff-creds");
        string entry(string user) => "{\"auths\":{\"reg.example:5000\":{\"auth\":\"" + B64(user + ":pw-" + user) + "\"}}}";
        string explicitFile = Write(dir, "explicit.json", entry("explicit"));
        string authFile = Write(dir, "authfile.json", entry("authfile"));
        Write(dir, "run/containers/auth.json", entry("xdg"));
        Write(dir, "home/.docker/config.json", entry("docker"));
        var env = new Dictionary<string, string> { ["REGISTRY_AUTH_FILE"] = authFile, ["XDG_RUNTIME_DIR"] = Path.Combine(dir, "run") };
        string home = Path.Combine(dir, "home");

        CredentialFiles Files(string? explicitPath, params string[] without) =>
            new(explicitPath, k => without.Contains(k) ? null : env.GetValueOrDefault(k), home);

        Assert.Equal("explicit", Files(explicitFile).Find("reg.example:5000", "a/b")!.Username);
        Assert.Equal("authfile", Files(null).Find("reg.example:5000", "a/b")!.Username);
        Assert.Equal("xdg", Files(null, "REGISTRY_AUTH_FILE").Find("reg.example:5000", "a/b")!.Username);
        var docker = Files(null, "REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR").Find("reg.example:5000", "a/b")!;
        Assert.Equal(("docker", "pw-docker"), (docker.Username, docker.Password));
        Assert.Null(Files(null).Find("other.example", "a/b"));
        Assert.DoesNotContain("pw-", docker.ToString());
    }

    [Fact]
    public void FirstFileWithAnEntryWins_AndLongestNamespaceMatches()
    {
        string dir = TestEnvironment.NewTempDir("rff-creds");
        string explicitFile = Write(dir, "a.json", """{"auths":{"other.example":{"username":"u","password":"p"}}}""");
        Write(dir, "home/.docker/config.json", $$"""
            {"auths":{
              "https://index.docker.io/v1/":{"auth":"{{B64("hub:hubpw")}}"},
              "quay.io":{"auth":"{{B64("quay:1")}}"},
              "quay.io/team":{"auth":"{{B64("team:2")}}"},
              "quay.io/team/app":{"username":"app","password":"3:with:colons"},
              "http://plain.example:8080/v2/":{"auth":"{{B64("plain:4")}}"}
            },"credsStore":"secretservice"}
            """);
        var files = new CredentialFiles(explicitFile, _ => null, Path.Combine(dir, "home"));
        Assert.Equal("hub", files.Find("docker.io", "library/busybox")!.Username);
        Assert.Equal("quay", files.Find("quay.io", "other/app")!.Username);
        Assert.Equal("team", files.Find("quay.io", "team/other")!.Username);
        var app = files.Find("quay.io", "team/app")!;
        Assert.Equal(("app", "3:with:colons"), (app.Username, app.Password));
        Assert.Equal("team", files.Find("quay.io", "team/application")!.Username); // component boundary
        Assert.Equal("plain", files.Find("plain.example:8080", "x")!.Username);
        Assert.Equal("u", files.Find("other.example", "x")!.Username);
    }

    [Fact]
    public void MissingExplicitFile_Throws_MalformedFile_NamesOnlyTheLine()
    {
        string dir = TestEnvironment.NewTempDir("rff-creds");
        Assert.Throws<FileNotFoundException>(() => new CredentialFiles(Path.Combine(dir, "nope.json"), _ => null, dir).Find("r", "x"));
        string bad = Write(dir, "bad.json", "{\"auths\": {\"r\": {\"auth\": \"c2VjcmV0\"}}\nSECRETPASSWORD");
        var e = Assert.Throws<InvalidDataException>(() => new CredentialFiles(bad, _ => null, dir).Find("r", "x"));
        Assert.DoesNotContain("SECRET", e.Message);
        Assert.Contains("line 2", e.Message);
    }

    [Fact]
    public void AuthChallenge_Parameters()
    {
        var p = AuthChallenge.ParseParameters("realm=\"https://auth.example/token\",service=\"registry.example\",scope=\"repository:a/b:pull,push\", error=insufficient_scope, q=\"a\\\"b\"");
        Assert.Equal("https://auth.example/token", p["realm"]);
        Assert.Equal("registry.example", p["service"]);
        Assert.Equal("repository:a/b:pull,push", p["scope"]);
        Assert.Equal("insufficient_scope", p["error"]);
        Assert.Equal("a\"b", p["q"]);
    }
}
