using System.Security.Cryptography;
using System.Text;
using RootfsForge.Definitions;
using RootfsForge.NativeTests.Support;
using RootfsForge.Steps;
using Xunit;

namespace RootfsForge.NativeTests.Definitions;

/// <summary>
/// Definitions and recipes (README "Definitions"): resolution order, parameters, the errors a person makes (each at its
/// file:line:column, which the tests know because they wrote the files), and the canonical form whose SHA-256 decides
/// "up to date". Python's json and PyYAML read our canonical JSON and YAML as the independent parsers.
/// </summary>
public class DefinitionLoaderTests
{
    private const string Key1 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH0Ou0Q2wQX9lyp4c3Y3M0fJ1dOaK3vYl3rM5vWZc1mN alice@example";

    /// <summary>A fresh images folder with the given files (relative name → content).</summary>
    private static string Images(params (string Name, string Text)[] files)
    {
        var dir = Path.Combine(TestEnvironment.NewTempDir("rff-defs"), "images");
        foreach (var (name, text) in files)
        {
            var path = Path.Combine(dir, name);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, text);
        }
        return dir;
    }

    private const string Base = """
        name: web
        kind: container
        from:
          image: docker://docker.io/library/debian@sha256:0000000000000000000000000000000000000000000000000000000000000001
        outputs: [tar.zst]

        """;

    private static ImageDefinition LoadWith(string body, params (string Name, string Text)[] more)
    {
        var dir = Images([("web.yaml", Base + body), .. more]);
        return DefinitionLoader.Load(Path.Combine(dir, "web.yaml"));
    }

    [Fact]
    public void RecipesApplyDepthFirst_ParametersAndDefaults_DefinitionLast()
    {
        var d = LoadWith("""
            include:
              - recipe: tools
              - recipe: greeter
                with: {who: world}
            packages: {install: [vim, curl], remove: [nano]}
            files:
              - {path: /etc/motd, content: "own\n", mode: "0600", owner: "1:2"}
            run: [echo own]
            env: {A: definition}
            entrypoint: [/bin/own]
            """,
            ("recipes/tools.yaml", """
                description: common tools
                packages: [curl, less]
                run:
                  - echo tools
                env: {A: tools, B: tools}
                """),
            ("recipes/greeter.yaml", """
                params:
                  who: ~
                  greeting: hello
                include:
                  - recipe: tools
                files:
                  - path: /etc/greeting
                    content: "{{ greeting }}, {{who}}! {{{{x}}"
                run:
                  - command: echo {{ greeting }}
                entrypoint: /bin/greeter
                """));

        Assert.Equal(["curl", "less", "vim"], d.Install);
        Assert.Equal(["nano"], d.Remove);
        Assert.Equal(["echo tools", "echo tools", "echo hello", "echo own"], d.Run.Select(r => r.Command));
        Assert.Equal(["/etc/greeting", "/etc/motd"], d.Files.Select(f => f.Path));
        Assert.Equal("hello, world! {{x}}", d.Files[0].Content);
        Assert.Equal((1u, 2u, 0x180), (d.Files[1].Uid, d.Files[1].Gid, d.Files[1].Mode!.Value));
        Assert.Equal("definition", d.Env["A"]);
        Assert.Equal("tools", d.Env["B"]);
        Assert.Equal(["/bin/own"], d.Entrypoint!);
        Assert.Equal(["tools.yaml", "greeter.yaml", "tools.yaml"], d.Recipes.Select(Path.GetFileName));
        Assert.Equal(ImageKind.Container, d.Kind);
        Assert.Equal("oci", d.From.Type);
    }

    [Fact]
    public void EverySection_VmDefinition()
    {
        var dir = Images(("vm.yaml", $$"""
            name: debian-12
            kind: vm
            from:
              mmdebstrap: {suite: bookworm, variant: minbase, include: [systemd-sysv]}
            packages: [openssh-server]
            files:
              - {path: /etc/ssh/sshd_config.d/zos.conf, source: files/zos.conf, mode: 0644}
            run:
              - script: files/setup.sh
            users:
              - {name: alice, uid: 1000, groups: [sudo], shell: /bin/bash, ssh_keys: ["{{Key1}}"]}
            ssh: ["{{Key1}}"]
            services: [ssh, {name: zos-init.service, unit: "[Unit]\n"}]
            kernel: {family: debian}
            cleanup: [/var/cache/apt/archives/*.deb]
            outputs:
              - tar.zst
              - fl: {stores: ["dir:///var/tmp/store", {url: "zdb://zdb.example:9900/ns", credentials_env: ZDB_CREDS}]}
              - hub: {url: "https://hub.grid.tf", name: debian-12.fl}
            metadata: {description: Debian 12, version: "12.8", maintainer: ops@example}
            reproducible: {source_date_epoch: 1700000000}
            """), ("files/zos.conf", "PermitRootLogin prohibit-password\n"), ("files/setup.sh", "#!/bin/sh\ntrue\n"));
        var d = DefinitionLoader.Load(Path.Combine(dir, "vm.yaml"));

        var b = Assert.IsType<BootstrapSource>(d.From);
        Assert.Equal(("mmdebstrap", "bookworm", "http://deb.debian.org/debian", "minbase"), (b.Tool, b.Suite, b.Mirror, b.Variant));
        Assert.Equal(["main"], b.Components);
        Assert.Equal(Path.Combine(dir, "files", "zos.conf"), d.Files[0].Source);
        Assert.Equal("files/zos.conf", d.Files[0].Written);
        Assert.Equal(0x1a4, d.Files[0].Mode);
        Assert.Equal("files/setup.sh", d.Run[0].Written);
        Assert.Equal(["sudo"], d.Users[0].Groups);
        Assert.Equal([Key1], d.SshKeys);
        Assert.Equal(["ssh.service", "zos-init.service"], d.Services.Select(s => s.Name));
        Assert.Equal("debian", d.Kernel.Family);
        Assert.Equal([OutputFormat.TarZst, OutputFormat.Flist, OutputFormat.Hub], d.Outputs.Select(o => o.Format));
        Assert.Equal("ZDB_CREDS", d.Outputs[1].Stores[1].CredentialsEnv);
        Assert.Equal("12.8", d.Metadata.Version);
        Assert.Equal(1700000000, d.SourceDateEpoch);
    }

    [Theory]
    [InlineData("url: https://example.org/a.qcow2\n  sha256: " + "ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789", "url")]
    [InlineData("url: https://example.org/a.qcow2\n  sha256sums: https://example.org/SHA256SUMS", "url")]
    [InlineData("path: ../base.tar", "path")]
    [InlineData("debootstrap: {suite: jammy, mirror: 'http://archive.ubuntu.com/ubuntu/'}", "debootstrap")]
    public void Sources(string from, string type)
    {
        var dir = Images(("a.yaml", $"name: a\nkind: vm\nfrom:\n  {from}\noutputs: [tar]\n"));
        var d = DefinitionLoader.Load(Path.Combine(dir, "a.yaml"));
        Assert.Equal(type, d.From.Type);
        switch (d.From)
        {
            case UrlSource { Sha256: { } hex }: Assert.Equal(hex.ToLowerInvariant(), hex); break;
            case PathSource p: Assert.Equal(Path.GetFullPath(Path.Combine(dir, "..", "base.tar")), p.Path); break;
            case BootstrapSource bs: Assert.Equal("http://archive.ubuntu.com/ubuntu", bs.Mirror); break;
        }
    }

    public static TheoryData<string, (string Name, string Text)[], string, int, int, string> Errors => new()
    {
        // body appended to Base (5 lines and a blank one: the body starts on line 6)
        { "colour: red\n", [], "web.yaml", 6, 1, "unknown key 'colour'" },
        { "packages: vim\n", [], "web.yaml", 6, 11, "must be a mapping" },
        { "packages: {install: vim}\n", [], "web.yaml", 6, 21, "must be a list" },
        { "files:\n  - {path: /a, content: x, mode: rw}\n", [], "web.yaml", 7, 34, "octal" },
        { "files:\n  - {path: a, content: x}\n", [], "web.yaml", 7, 12, "absolute path" },
        { "files:\n  - {path: /a, source: nothere}\n", [], "web.yaml", 7, 24, "does not exist" },
        { "files:\n  - {path: /a}\n", [], "web.yaml", 7, 5, "exactly one of 'source'" },
        { "kernel: {family: debian}\n", [], "web.yaml", 6, 9, "applies to vm" },
        { "services: [{name: web, exec: run, oneshot: maybe}]\n", [], "web.yaml", 6, 44, "true or false" },
        { "include: [nothere]\n", [], "web.yaml", 6, 11, "recipe 'nothere' not found" },
        { "include: [a]\n", [("recipes/a.yaml", "run: [x]\ninclude:\n  - b\n"), ("recipes/b.yaml", "include: [a]\n")],
            "b.yaml", 1, 11, "include cycle: web.yaml -> a.yaml -> b.yaml -> a.yaml" },
        { "include: [a]\n", [("recipes/a.yaml", "include: [a]\n")], "a.yaml", 1, 11, "include cycle" },
        { "include: [a]\n", [("recipes/a.yaml", "run: [x]\nservices: [{name: s, exec: x, colour: red}]\n")], "a.yaml", 2, 31, "unknown key 'colour'" },
        { "include: [a]\n", [("recipes/a.yaml", "params: {x: ~}\nrun: [\"{{x}}\"]\n")], "web.yaml", 6, 11, "needs parameter 'x'" },
        { "include: [{recipe: a, with: {y: 1}}]\n", [("recipes/a.yaml", "params: {x: 1}\n")], "web.yaml", 6, 30, "has no parameter 'y'" },
        { "include: [a]\n", [("recipes/a.yaml", "run: [\"echo {{ z }}\"]\n")], "a.yaml", 1, 7, "unknown parameter 'z'" },
        { "include: [a]\n", [("recipes/a.yaml", "name: x\n")], "a.yaml", 1, 1, "unknown key 'name' in a recipe" },
        { "run: [a, [b]]\n", [], "web.yaml", 6, 10, "must be a mapping" },
        { "run: [a\n", [], "web.yaml", 7, 1, "flow sequence" },
        { "env: {A: 1}\nenv: {B: 2}\n", [], "web.yaml", 7, 1, "Duplicate key env" },
        { "users: [{name: Root!}]\n", [], "web.yaml", 6, 16, "POSIX user name" },
        { "ssh: [\"not a key\"]\n", [], "web.yaml", 6, 7, "authorized_keys line" },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void MistakesAreErrorsAtTheirFileLineColumn(string body, (string Name, string Text)[] more, string file, int line, int column, string reason)
    {
        var e = Assert.Throws<DefinitionFormatException>(() => LoadWith(body, more));
        Assert.Equal(file, Path.GetFileName(e.File));
        Assert.True((line, column) == (e.Line, e.Column), $"expected {line}:{column}, got {e.Message}");
        Assert.Contains(reason, e.Reason, StringComparison.Ordinal);
        Assert.StartsWith($"{e.File}:{line}:{column}: ", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("name: a\nkind: vm\nfrom: {url: 'https://x/a.img'}\noutputs: [tar]\n", 3, 7, "needs exactly one of 'sha256'")]
    [InlineData("name: a\nkind: vm\nfrom: {url: 'https://x/a.img', sha256: abc}\noutputs: [tar]\n", 3, 40, "64 hex digits")]
    [InlineData("name: a\nkind: vm\nfrom: {path: x, image: 'docker://a/b@sha256:00'}\noutputs: [tar]\n", 3, 17, "exactly one of")]
    [InlineData("name: a\nkind: container\nfrom: {image: 'docker://debian:12'}\noutputs: [tar]\n", 3, 15, "pinned by digest")]
    [InlineData("name: a\nkind: box\nfrom: {path: x}\noutputs: [tar]\n", 2, 7, "vm or container")]
    [InlineData("name: a/b\nkind: vm\nfrom: {path: x}\noutputs: [tar]\n", 1, 7, "'name' must be")]
    [InlineData("name: a\nkind: vm\nfrom: {path: x}\n", 1, 1, "missing 'outputs'")]
    [InlineData("name: a\nkind: vm\nfrom: {path: x}\noutputs: [tar, zip]\n", 4, 16, "unknown output 'zip'")]
    [InlineData("name: a\nkind: vm\nfrom: {path: x}\noutputs: [{fl: {stores: ['zdb://u:secret@h:9900/ns']}}]\n", 4, 26, "must not hold a password")]
    [InlineData("name: a\nkind: vm\nfrom: {path: x}\noutputs: [tar]\nreproducible: {source_date_epoch: -1}\n", 5, 35, "whole number")]
    [InlineData("- a\n- b\n", 1, 1, "expected a definition")]
    public void DefinitionLevelMistakes(string text, int line, int column, string reason)
    {
        var dir = Images(("a.yaml", text));
        var e = Assert.Throws<DefinitionFormatException>(() => DefinitionLoader.Load(Path.Combine(dir, "a.yaml")));
        Assert.True((line, column) == (e.Line, e.Column), $"expected {line}:{column}, got {e.Message}");
        Assert.Contains(reason, e.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingDefinitionFile_IsFileNotFound() =>
        Assert.Throws<FileNotFoundException>(() => DefinitionLoader.Load(Path.Combine(Images(), "none.yaml")));

    [Fact]
    public void Hash_IgnoresFormattingOrderAndLocation_TracksRecipesAndCopiedFiles()
    {
        const string def = """
            # a comment
            name: web
            kind: container
            from: {image: "docker://docker.io/library/debian@sha256:0000000000000000000000000000000000000000000000000000000000000001"}
            include: [motd]
            files: [{path: /etc/app.conf, source: files/app.conf}]
            outputs: [tar.zst]
            """;
        const string reordered = """
            outputs:
              - tar.zst
            files:
              - source: files/app.conf
                path: /etc/app.conf
            include:
              - recipe: motd
            from:
              image: docker://docker.io/library/debian@sha256:0000000000000000000000000000000000000000000000000000000000000001
            kind: container
            name: web
            """;
        (string, string) recipe = ("recipes/motd.yaml", "files: [{path: /etc/motd, content: hi}]\n");
        (string, string) conf = ("files/app.conf", "a=1\n");
        string Hash(params (string, string)[] files)
        {
            var dir = Images(files);
            return DefinitionDocument.Sha256(DefinitionLoader.Load(Path.Combine(dir, "web.yaml")));
        }

        var h = Hash(("web.yaml", def), recipe, conf);
        Assert.Matches("^[0-9a-f]{64}$", h);
        Assert.Equal(h, Hash(("web.yaml", reordered), recipe, conf)); // another folder, other order, no comment
        Assert.NotEqual(h, Hash(("web.yaml", def), ("recipes/motd.yaml", "files: [{path: /etc/motd, content: hello}]\n"), conf));
        Assert.NotEqual(h, Hash(("web.yaml", def), recipe, ("files/app.conf", "a=2\n")));
        Assert.NotEqual(h, Hash(("web.yaml", def.Replace("tar.zst", "tar.gz", StringComparison.Ordinal)), recipe, conf));

        var d = DefinitionLoader.Load(Path.Combine(Images(("web.yaml", def), recipe, conf), "web.yaml"));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(DefinitionDocument.CanonicalJson(d))), h);
        Assert.DoesNotContain(Path.GetTempPath(), Encoding.UTF8.GetString(DefinitionDocument.CanonicalJson(d)), StringComparison.Ordinal);
    }

    /// <summary>Python reads the canonical JSON (keys sorted at every level, no whitespace) and the printed YAML (same content).</summary>
    [SkippableFact]
    public void CanonicalJsonAndPrintedYaml_ReadBackWithPython()
    {
        TestEnvironment.RequireTool("python3");
        var d = LoadWith("""
            include: [{recipe: r, with: {v: "0755"}}]
            env: {PATH: "/usr/bin:/bin", EMPTY: "", NUM: "12", YES: "yes"}
            files:
              - {path: /etc/multi, content: "line 1\nline: 2\n  indented\n", mode: "0640"}
            services: [{name: web, exec: "/usr/bin/web --port 80", after: [net], oneshot: true, test: "true"}]
            workdir: /srv
            """, ("recipes/r.yaml", "params: {v: ~}\nrun: [\"chmod {{v}} /srv\", \"~\", \"null\"]\n"));
        var dir = TestEnvironment.NewTempDir("rff-defs-py");
        File.WriteAllBytes(Path.Combine(dir, "d.json"), DefinitionDocument.CanonicalJson(d));
        File.WriteAllText(Path.Combine(dir, "d.yaml"), DefinitionDocument.ToYaml(d));
        const string script = """
            import json, sys, yaml
            raw = open(sys.argv[1], 'rb').read()
            j = json.loads(raw)
            def sorted_keys(n):
                if isinstance(n, dict):
                    assert list(n) == sorted(n), list(n)
                    for v in n.values(): sorted_keys(v)
                elif isinstance(n, list):
                    for v in n: sorted_keys(v)
            sorted_keys(j)
            assert b'\n' not in raw and b': ' not in raw.replace(b'line: 2', b'')
            y = yaml.safe_load(open(sys.argv[2]))
            assert y == j, (y, j)
            print(json.dumps(j, sort_keys=True))
            """;
        File.WriteAllText(Path.Combine(dir, "check.py"), script);
        var stdout = TestEnvironment.RunChecked("python3", [Path.Combine(dir, "check.py"), Path.Combine(dir, "d.json"), Path.Combine(dir, "d.yaml")]);
        Assert.Contains("\"chmod 0755 /srv\"", stdout, StringComparison.Ordinal);
        Assert.Contains("\"YES\": \"yes\"", stdout, StringComparison.Ordinal);
        Assert.Contains("\"mode\": \"0640\"", stdout, StringComparison.Ordinal);
    }
}
