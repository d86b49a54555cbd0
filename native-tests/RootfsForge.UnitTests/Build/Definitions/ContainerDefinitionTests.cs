using System.Text;
using RootfsForge.Definitions;
using RootfsForge.NativeTests.Support;
using RootfsForge.Sources.Oci;
using Xunit;

namespace RootfsForge.NativeTests.Definitions;

/// <summary>
/// Container definitions without building: the shipped ones load and render as Dockerfiles, the build's steps are the
/// Dockerfile's in its order, and /.startup.toml follows a Dockerfile build's config rules.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class ContainerDefinitionTests
{
    private static ImageConfig Config(string json) => ImageConfig.Parse(Encoding.UTF8.GetBytes(json), "config");

    private static ImageDefinition Definition(string body)
    {
        string dir = TestEnvironment.NewTempDir("rff-ctrdef");
        string file = Path.Combine(dir, "c.yaml");
        File.WriteAllText(file, "name: c\nkind: container\nfrom: {image: \"docker://127.0.0.1:5000/x@sha256:" + new string('a', 64) + "\"}\noutputs: [tar]\n" + body);
        return DefinitionLoader.Load(file);
    }

    [Theory]
    [InlineData("busybox", "ENTRYPOINT [\"/bin/httpd\",\"-f\",\"-p\",\"8080\",\"-h\",\"/srv/www\"]")]
    [InlineData("debian-12-container", "apt-get install -y --no-install-recommends 'curl' 'iproute2' 'less'")]
    public void Shipped_container_definitions_load_and_render(string name, string expected)
    {
        var d = DefinitionLoader.Load(Path.Combine(TestEnvironment.RepoRoot, "images", name + ".yaml"));
        Assert.Equal(ImageKind.Container, d.Kind);
        Assert.StartsWith("docker://127.0.0.1:5000/rootfsforge/", ((OciSource)d.From).Image, StringComparison.Ordinal);
        string dir = Path.Combine(TestEnvironment.NewTempDir("rff-render"), "ctx");
        DockerfileRenderer.Render(d, dir);
        string dockerfile = File.ReadAllText(Path.Combine(dir, "Dockerfile"));
        Assert.Contains("FROM ${BASE}\n", dockerfile, StringComparison.Ordinal);
        Assert.Contains(expected, dockerfile, StringComparison.Ordinal);
    }

    [Fact]
    public void Startup_entrypoint_clears_cmd_env_is_added_and_the_default_path_comes_in_when_the_image_has_none()
    {
        var config = Config("""{"config":{"Entrypoint":["/old"],"Cmd":["arg"],"Env":["A=1","B=2"],"WorkingDir":"/w"}}""");
        string toml = Encoding.UTF8.GetString(ContainerDefinitionBuild.Startup(Definition("entrypoint: [/bin/app, -x]\nenv: {B: \"3\"}\n"), config));
        Assert.Contains("args = [\"-x\"]\ndir = \"/w\"\nname = \"/bin/app\"\n", toml, StringComparison.Ordinal);
        Assert.Contains("A = \"1\"\nB = \"3\"\nPATH = \"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"\n", toml, StringComparison.Ordinal);

        // Without an entrypoint the image's Entrypoint and Cmd stay; an image PATH is kept as it is.
        config = Config("""{"config":{"Entrypoint":["/old"],"Cmd":["arg"],"Env":["PATH=/bin"]}}""");
        toml = Encoding.UTF8.GetString(ContainerDefinitionBuild.Startup(Definition("workdir: /srv\n"), config));
        Assert.Contains("args = [\"arg\"]\ndir = \"/srv\"\nname = \"/old\"\n", toml, StringComparison.Ordinal);
        Assert.Contains("PATH = \"/bin\"\n", toml, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_steps_follow_the_rendered_Dockerfile()
    {
        var d = Definition("""
            packages: [less]
            files: [{path: /etc/motd, content: "hi\n", owner: "1:2"}]
            run: [echo one]
            users: [{name: bob}]
            ssh: ["ssh-ed25519 AAAA k"]
            services: [{name: app, exec: /bin/app}]
            cleanup: [/tmp/x]
            """);
        var steps = ContainerDefinitionBuild.Steps(d, Config("""{"config":{}}"""), TestEnvironment.NewTempDir("rff-steps"));
        var commands = steps.Where(s => s.Command is not null).Select(s => s.Command!).ToList();
        Assert.Equal([DockerfileRenderer.AptListsCleanup, "echo one", DockerfileRenderer.UserCommand(d.Users[0]), DockerfileRenderer.CleanupCommand(d.Cleanup)], commands);
        var copies = steps.Where(s => s.Copy is not null).Select(s => (s.Copy!.Destination, s.Copy.Uid, s.Copy.Gid, s.Copy.Mode)).ToList();
        Assert.Equal([("/etc/motd", 1u, 2u, (int?)0x1A4), ("/root/.ssh/authorized_keys", 0u, 0u, 0x180), ("/etc/zinit/app.yaml", 0u, 0u, 0x1A4)], copies);
        // Copies come between the right commands, and /.startup.toml is written last.
        var order = steps.Select(s => s.Copy?.Destination ?? s.Command ?? "edit").Where(n => n != "edit").ToList();
        Assert.True(order.IndexOf("/etc/motd") < order.IndexOf("echo one") && order.IndexOf("/etc/zinit/app.yaml") > order.IndexOf(commands[2]));
        Assert.NotNull(steps[^1].Edit);
    }
}
