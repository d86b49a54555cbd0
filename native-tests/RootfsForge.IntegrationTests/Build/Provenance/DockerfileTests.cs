using RootfsForge.NativeTests.Oci;
using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Provenance;

/// <summary>
/// <c>rootfsforge dockerfile</c>: the rendered context is built by Debian's buildah (vfs, chroot isolation, FROM a
/// locally made busybox base via --build-arg BASE), converted with <c>rootfsforge container</c>, and the tree is checked
/// against what the definition says (files, modes, owners, commands' effects, zinit services, cleanup, /.startup.toml).
/// The equivalence with <c>rootfsforge build</c> of the same definition (issue 11 §3) is ContainerEquivalenceTests.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class DockerfileTests
{
    private static string MakeDefinition(string dir)
    {
        string images = Path.Combine(dir, "images");
        Directory.CreateDirectory(Path.Combine(images, "files", "www", "css"));
        Directory.CreateDirectory(Path.Combine(images, "scripts"));
        File.WriteAllText(Path.Combine(images, "files", "tool"), "#!/bin/sh\necho tool\n");
        File.WriteAllText(Path.Combine(images, "files", "www", "index.html"), "<p>hi</p>\n");
        File.WriteAllText(Path.Combine(images, "files", "www", "css", "a.css"), "p{}\n");
        File.WriteAllText(Path.Combine(images, "scripts", "setup.sh"), "echo \"from script $GREETING\" > /etc/from-script\nmkdir -p /tmp/junk && echo x > /tmp/junk/x\n");
        File.WriteAllText(Path.Combine(images, "web.yaml"), """
            name: web
            kind: container
            from:
              image: docker://localhost/rootfsforge-test/busybox@sha256:0000000000000000000000000000000000000000000000000000000000000001
            files:
              - {path: /etc/motd, content: "it's \"quoted\"\n", mode: "0640", owner: "1:2"}
              - {path: /usr/local/bin/tool, source: files/tool, mode: "0755"}
              - {path: /srv/www, source: files/www, owner: "33:33"}
            run:
              - echo built > /etc/built
              - script: scripts/setup.sh
            ssh: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTestsOnly test@example"]
            services:
              - {name: setup, exec: /bin/true, oneshot: true}
              - {name: web, exec: "httpd -f -p 8080 -h /srv/www", after: [setup], test: "wget -q -O- http://127.0.0.1:8080/"}
            cleanup: [/tmp/junk]
            env: {GREETING: "hi there"}
            workdir: /srv/www
            entrypoint: [/bin/httpd, -f, -p, "8080"]
            outputs: [tar]
            """);
        return Path.Combine(images, "web.yaml");
    }

    private static (uint Uid, uint Gid, string Mode) Stat(string path)
    {
        var s = TestEnvironment.RunChecked("stat", ["-c", "%u %g %a", path]).Trim().Split(' ');
        return (uint.Parse(s[0]), uint.Parse(s[1]), s[2]);
    }

    [SkippableFact]
    public void RenderedDockerfile_BuiltByBuildah_HoldsWhatTheDefinitionSays()
    {
        Skip.IfNot(File.Exists(TestEnvironment.CliDll), "the CLI is not built");
        string? why = Buildah.Unavailable();
        Skip.If(why is not null, why);
        var dir = TestEnvironment.NewTempDir("rff-dockerfile");
        string yaml = MakeDefinition(dir), context = Path.Combine(dir, "context");
        var (code, _, stderr) = TestEnvironment.RunCli("dockerfile", yaml, "-o", context);
        Assert.True(code == 0, stderr);
        Assert.Equal(2, TestEnvironment.RunCli("dockerfile", yaml, "-o", context).ExitCode); // not empty any more

        using var buildah = new Buildah();
        buildah.Run("bud", "--isolation", "chroot", "--pull=never", "--layers", "--build-arg", $"BASE={buildah.Base()}",
            "-t", "localhost/rootfsforge-test/rendered:1", context);
        string layout = buildah.ToOciLayout("localhost/rootfsforge-test/rendered:1", Path.Combine(dir, "layout"), "web");
        string tree = Path.Combine(dir, "tree");
        (code, _, stderr) = TestEnvironment.RunCli("container", $"oci:{layout}:web", "-o", tree);
        Assert.True(code == 0, stderr);

        Assert.Equal("it's \"quoted\"\n", File.ReadAllText(Path.Combine(tree, "etc", "motd")));
        Assert.Equal((1u, 2u, "640"), Stat(Path.Combine(tree, "etc", "motd")));
        Assert.Equal((0u, 0u, "755"), Stat(Path.Combine(tree, "usr", "local", "bin", "tool")));
        Assert.Equal("p{}\n", File.ReadAllText(Path.Combine(tree, "srv", "www", "css", "a.css")));
        Assert.Equal(33u, Stat(Path.Combine(tree, "srv", "www", "index.html")).Uid);
        Assert.Equal("built\n", File.ReadAllText(Path.Combine(tree, "etc", "built")));
        Assert.StartsWith("from script", File.ReadAllText(Path.Combine(tree, "etc", "from-script")));
        Assert.False(Directory.Exists(Path.Combine(tree, "tmp", "junk")), "cleanup removed /tmp/junk");
        Assert.False(Directory.Exists(Path.Combine(tree, "root", ".rootfsforge-build")), "the script was removed");
        Assert.Equal((0u, 0u, "600"), Stat(Path.Combine(tree, "root", ".ssh", "authorized_keys")));
        string web = File.ReadAllText(Path.Combine(tree, "etc", "zinit", "web.yaml"));
        Assert.Contains("exec: \"httpd -f -p 8080 -h /srv/www\"", web);
        Assert.Contains("after:\n  - \"setup\"", web);
        Assert.Contains("oneshot: true", File.ReadAllText(Path.Combine(tree, "etc", "zinit", "setup.yaml")));
        string startup = File.ReadAllText(Path.Combine(tree, ".startup.toml"));
        Assert.Contains("/bin/httpd", startup);
        Assert.Contains("GREETING", startup);
        Assert.Contains("/srv/www", startup);
    }
}
