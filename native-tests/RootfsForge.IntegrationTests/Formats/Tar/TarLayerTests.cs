using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using RootfsForge.NativeTests.Sinks;
using RootfsForge.NativeTests.Support;
using RootfsForge.Tar;
using RootfsForge.Tree;
using Xunit;

namespace RootfsForge.NativeTests.Tar;

/// <summary>
/// OCI image layers applied with <see cref="TarIndex.ApplyLayer"/>: layers written member by member with Python's
/// tarfile, the merged walk compared with a tree worked out by hand from the image-spec rules (layer.md), and, where
/// umoci is installed, with what <c>umoci raw unpack</c> makes of the same layers in a hand-assembled OCI layout.
/// </summary>
public class TarLayerTests : TempDirectories
{
    private static readonly string[] Base =
    [
        "dir ./", "dir a", "dir a/b", "dir a/b/c", "file a/b/c/bar bar",
        "dir bin", "file bin/my-app-binary bin1 755", "file bin/my-app-tools tools1 755", "dir bin/tools", "file bin/tools/my-app-tool-one one",
        "dir etc", "file etc/my-app-config cfg", "file etc/keep keep",
        "file filetodir x", "dir dirtofile", "file dirtofile/child child",
        "file linked shared", "file hl1 hardlinked", "link hl2 hl1",
        "dir tmp 1777", "sym cfg /tmp", "sym rel a/b",
        "dir wh", "file wh/gone gone", "dir wh/gonedir", "file wh/gonedir/x x",
        "dir opq", "file opq/old old", "dir opq/sub", "file opq/sub/old2 old2",
    ];

    private static readonly string[] Upper =
    [
        "dir a 700", "file a/.wh..wh..opq", "dir a/b", "dir a/b/c", "file a/b/c/foo foo", // opaque before the new entries
        "file bin/.wh.my-app-binary", "file etc/.wh.my-app-config",
        "dir filetodir", "file filetodir/inside inside", // a file replaced by a directory
        "file dirtofile now-a-file", // a directory replaced by a file
        "link newlink linked", // a hard link to a file of the lower layer
        "file cfg/passwd pw", // through the lower symlink cfg -> /tmp: lands in tmp/
        "file rel/new new", // through the lower symlink rel -> a/b, into this layer's a/b
        "file wh/.wh.gone", "file wh/.wh.gonedir",
        "dir opq", "dir opq/sub", "file opq/sub/new new2", "file opq/.wh..wh..opq", // opaque after this layer's entries
        "file ../../escape esc", "dir abs", "file /abs/file absfile", // hostile names, resolved inside the root
        "file .wh.hl1", // the other name of the hard link keeps the content
    ];

    private static readonly string[] Top =
    [
        "file filetodir again", // and back: the directory from the layer below replaced by a file
        "link l3link newlink", // a hard link to a hard link of the layer below (one inode, three names)
        "link viahl cfg/passwd", // a hard link whose target goes through a lower symlink
        "file x/.wh..wh..opq", // an opaque whiteout of nothing
        "sym a/b/c/foo bar", // a file of the layer below replaced by a symlink
    ];

    /// <summary>The merged tree, worked out from layer.md by hand (walk order: parents first, names by bytes).</summary>
    private static readonly string[] Merged =
    [
        " dir 755", "a dir 700", "a/b dir 755", "a/b/c dir 755", "a/b/c/foo sym bar", "a/b/new file 644 new",
        "abs dir 755", "abs/file file 644 absfile",
        "bin dir 755", "bin/my-app-tools file 755 tools1", "bin/tools dir 755", "bin/tools/my-app-tool-one file 644 one",
        "cfg sym /tmp", "dirtofile file 644 now-a-file", "escape file 644 esc", "etc dir 755", "etc/keep file 644 keep",
        "filetodir file 644 again", "hl2 file 644 hardlinked",
        "l3link file 644 shared", "linked hardlink l3link", "newlink hardlink l3link",
        "opq dir 755", "opq/sub dir 755", "opq/sub/new file 644 new2",
        "rel sym a/b", "tmp dir 1777", "tmp/passwd file 644 pw", "viahl hardlink tmp/passwd", "wh dir 755",
    ];

    [Fact]
    public async Task LayersMergeAsTheImageSpecSays()
    {
        var work = Temp();
        var layers = WriteLayers(work);
        // The base layer compressed: each layer's content stays in its own spooled archive.
        TestEnvironment.RequireTool("gzip");
        TestEnvironment.RunChecked("gzip", ["-k", layers[0]]);
        using var image = await Image.OpenAsync([layers[0] + ".gz", layers[1], layers[2]]);
        var entries = image.Index.Walk().ToList();
        Assert.Equal(Merged, await DescribeAsync(entries));
        Assert.DoesNotContain(entries, e => e.Name.StartsWith(".wh.", StringComparison.Ordinal));
        Assert.DoesNotContain(image.Index.Warnings, w => !w.Contains("'..'") && !w.Contains("absolute"));
    }

    [SkippableFact]
    public async Task LayersMergeAsUmociUnpacksThem()
    {
        Skip.If(TestEnvironment.FindOnPath("umoci") is null, "umoci is not installed (apt-get install umoci)");
        TestEnvironment.RequireRoot("umoci unpacks owners and modes as root only (without --rootless)");
        var work = Temp();
        var layers = WriteLayers(work);
        var layout = Path.Combine(work, "oci");
        WriteLayout(layout, "test", layers);
        var rootfs = Path.Combine(work, "rootfs");
        TestEnvironment.RunChecked("umoci", ["raw", "unpack", "--image", $"{layout}:test", rootfs]);

        using var image = await Image.OpenAsync(layers);
        var entries = image.Index.Walk().ToList();
        // umoci deletes the lower children of opq/sub (below the opaque opq) without restoring opq/sub's mtime afterwards
        // (its restoreMetadata covers only the whiteout's own directory), so that one directory carries the time of the
        // unpack; the layer says 1700000000, as the merged tree has it.
        string subdir = Convert.ToHexStringLower("opq/sub"u8) + "\t";
        string[] Mask(string[] lines) => lines.Select(l => l.StartsWith(subdir, StringComparison.Ordinal) ? string.Join('\t', l.Split('\t').Select((f, i) => i == 5 ? "-" : f)) : l).ToArray();
        TreeDump.AssertSame(Mask(TreeDump.OfDirectory(rootfs)), Mask(TreeDump.OfEntries(entries)));
    }

    [Fact]
    public async Task NamesThroughLowerSymlinksResolveInsideTheRoot()
    {
        var work = Temp();
        var lower = PythonTar.Write(Path.Combine(work, "1.tar"),
            "dir ./", "sym etc /nowhere", "sym up ../../..", "sym root /", "sym l1 l2", "sym l2 l1", "file f plain", "sym s f",
            "dir d", "file d/x x", "file d/y y", "sym toD d", "sym empty-dir d");
        var upper = PythonTar.Write(Path.Combine(work, "2.tar"),
            "file etc/passwd pw", // etc -> /nowhere, which does not exist: made, as runtimes' MkdirAll does
            "file up/etc2/shadow sh", // up -> ../../.. stops at the root
            "file root/top top", // root -> / is the image root
            "file s/x z", // s -> f, a file: skipped
            "file toD/.wh.x", // a whiteout through a symlink
            "link hl toD/y", // a hard link through a symlink
            "file d/../../../../d/z z"); // '..' stops at the root
        using var image = await Image.OpenAsync([lower, upper]);
        Assert.Equal(
        [
            " dir 755", "d dir 755", "d/y file 644 y", "d/z file 644 z", "empty-dir sym d", "etc sym /nowhere", "etc2 dir 755", "etc2/shadow file 644 sh",
            "f file 644 plain", "hl hardlink d/y", "l1 sym l2", "l2 sym l1", "nowhere dir 755", "nowhere/passwd file 644 pw",
            "root sym /", "s sym f", "toD sym d", "top file 644 top", "up sym ../../..",
        ], await DescribeAsync(image.Index.Walk()));
        Assert.Contains(image.Index.Warnings, w => w.StartsWith("/nowhere: directory missing", StringComparison.Ordinal));
        Assert.Contains(image.Index.Warnings, w => w.StartsWith("/etc2: directory missing", StringComparison.Ordinal));
        Assert.Contains(image.Index.Warnings, w => w.StartsWith("/s/x:", StringComparison.Ordinal) && w.Contains("skipped"));

        // A name through a symlink loop is refused, naming the member.
        var looping = PythonTar.Write(Path.Combine(work, "3.tar"), "file l1/x loop");
        using var archive = await TarArchive.OpenAsync(looping, null);
        var ex = Assert.Throws<ImageFormatException>(() => image.Index.ApplyLayer(archive, ociLayer: true));
        Assert.Equal((ImageErrorKind.Loop, "tar entry name"), (ex.Kind, ex.Structure));
        Assert.Contains("/l1/x", ex.Message);
        Assert.Equal(looping, ex.ImagePath);
    }

    [Fact]
    public async Task HardLinksToLowerFilesKeepTheirInode()
    {
        var work = Temp();
        var lower = PythonTar.Write(Path.Combine(work, "1.tar"), "dir ./", "file a one", "file b two");
        var upper = PythonTar.Write(Path.Combine(work, "2.tar"),
            "link c a", // c names a's lower inode ...
            "file a replaced", // ... which keeps its content when a is replaced
            "file .wh.b", "link b2 b"); // a hard link to a name this layer removed: skipped
        using var image = await Image.OpenAsync([lower, upper]);
        Assert.Equal([" dir 755", "a file 644 replaced", "c file 644 one"], await DescribeAsync(image.Index.Walk()));
        Assert.Contains(image.Index.Warnings, w => w.StartsWith("/b2: hard link to 'b'", StringComparison.Ordinal));
    }

    [Fact]
    public async Task WithoutLayerRulesWhiteoutsAreFilesAndSymlinkedParentsAreSkipped()
    {
        var tar = PythonTar.Write(Path.Combine(Temp(), "plain.tar"),
            "dir ./", "dir d", "sym s d", "file s/x x", "file .wh.f", "file d/.wh..wh..opq", "file /abs abs", "file a/../b b");
        using var source = new TarArchiveSource(tar);
        Assert.Equal([" dir 755", ".wh.f file 644 ", "abs file 644 abs", "b file 644 b", "d dir 755", "d/.wh..wh..opq file 644 ", "s sym d"],
            await DescribeAsync(await source.WalkAsync().ToListAsync()));
        Assert.Contains(source.Warnings, w => w.StartsWith("/s/x: lies under /s, which is not a directory", StringComparison.Ordinal));
        Assert.Contains(source.Warnings, w => w.Contains("absolute member names were made relative"));
        Assert.Contains(source.Warnings, w => w.Contains("'a/../b'") && w.Contains("/b"));
    }

    /// <summary>The three layers of the main scenario, uncompressed.</summary>
    private static string[] WriteLayers(string dir) =>
    [
        PythonTar.Write(Path.Combine(dir, "base.tar"), Base),
        PythonTar.Write(Path.Combine(dir, "upper.tar"), Upper),
        PythonTar.Write(Path.Combine(dir, "top.tar"), Top),
    ];

    /// <summary>One line per entry: path, type, then mode and content (files and directories) or target (links).</summary>
    private static async Task<string[]> DescribeAsync(IEnumerable<TreeEntry> entries)
    {
        var lines = new List<string>();
        foreach (var e in entries)
        {
            string mode = Convert.ToString(e.Permissions, 8);
            switch (e.Type)
            {
                case EntryType.Directory: lines.Add($"{e.Path} dir {mode}"); break;
                case EntryType.SymbolicLink: lines.Add($"{e.Path} sym {e.LinkTarget}"); break;
                case EntryType.HardLink: lines.Add($"{e.Path} hardlink {e.LinkTarget}"); break;
                case EntryType.RegularFile:
                    using (var content = e.OpenContent!())
                    {
                        var bytes = new byte[content.Length];
                        await content.ReadExactlyAtAsync(0, bytes);
                        lines.Add($"{e.Path} file {mode} {Encoding.UTF8.GetString(bytes)}");
                    }
                    break;
                default: lines.Add($"{e.Path} {e.Type}"); break;
            }
        }
        return lines.ToArray();
    }

    /// <summary>
    /// An OCI image layout (image-spec image-layout.md) holding one image of uncompressed layers, tagged
    /// <paramref name="tag"/>: blobs by sha256, a config whose diff_ids are the layers' digests, a manifest, index.json.
    /// </summary>
    private static void WriteLayout(string layout, string tag, string[] layers)
    {
        var blobs = Path.Combine(layout, "blobs", "sha256");
        Directory.CreateDirectory(blobs);
        File.WriteAllText(Path.Combine(layout, "oci-layout"), """{"imageLayoutVersion":"1.0.0"}""");
        (string Digest, long Size) Blob(byte[] bytes)
        {
            var hex = Convert.ToHexStringLower(SHA256.HashData(bytes));
            File.WriteAllBytes(Path.Combine(blobs, hex), bytes);
            return ("sha256:" + hex, bytes.Length);
        }
        var layerBlobs = layers.Select(l => Blob(File.ReadAllBytes(l))).ToList();
        var config = Blob(Encoding.UTF8.GetBytes(new JsonObject
        {
            ["architecture"] = "amd64",
            ["os"] = "linux",
            ["config"] = new JsonObject(),
            ["rootfs"] = new JsonObject { ["type"] = "layers", ["diff_ids"] = new JsonArray(layerBlobs.Select(b => (JsonNode)b.Digest).ToArray()) },
        }.ToJsonString()));
        var manifest = Blob(Encoding.UTF8.GetBytes(new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = "application/vnd.oci.image.manifest.v1+json",
            ["config"] = new JsonObject { ["mediaType"] = "application/vnd.oci.image.config.v1+json", ["digest"] = config.Digest, ["size"] = config.Size },
            ["layers"] = new JsonArray(layerBlobs.Select(b => (JsonNode)new JsonObject
            {
                ["mediaType"] = "application/vnd.oci.image.layer.v1.tar", ["digest"] = b.Digest, ["size"] = b.Size,
            }).ToArray()),
        }.ToJsonString()));
        File.WriteAllText(Path.Combine(layout, "index.json"), new JsonObject
        {
            ["schemaVersion"] = 2,
            ["manifests"] = new JsonArray(new JsonObject
            {
                ["mediaType"] = "application/vnd.oci.image.manifest.v1+json", ["digest"] = manifest.Digest, ["size"] = manifest.Size,
                ["annotations"] = new JsonObject { ["org.opencontainers.image.ref.name"] = tag },
            }),
        }.ToJsonString());
    }

    /// <summary>Layers applied in order to one index, as the OCI source will do; disposing closes their archives.</summary>
    private sealed class Image : IDisposable
    {
        private readonly List<TarArchive> _archives = [];

        public TarIndex Index { get; } = new();

        public static async Task<Image> OpenAsync(string[] layers)
        {
            var image = new Image();
            foreach (var layer in layers)
            {
                var archive = await TarArchive.OpenAsync(layer, null);
                image._archives.Add(archive);
                image.Index.ApplyLayer(archive, ociLayer: true);
            }
            return image;
        }

        public void Dispose()
        {
            foreach (var a in _archives) a.Dispose();
        }
    }
}

/// <summary>
/// Random layers of hostile names (<c>..</c>, absolute names, whiteouts at every depth, symlinks pointing up, across and
/// in loops, hard links to anything): applying them ends in a tree or in the one refusal a well-formed layer can earn (a
/// symlink loop), never another exception; the tree holds only valid paths, no whiteout name, and readable contents.
/// </summary>
public class TarLayerRobustnessTests
{
    private static readonly string[] Parts = ["a", "b", "c", "..", ".", "", ".wh.a", ".wh.b", ".wh..wh..opq", ".wh..wh.plnk"];
    private static readonly string[] Targets = ["a", "b", "/a", "../..", "a/b", "/", "c/../a", "missing", "b/c"];

    [Fact]
    public async Task RandomLayersEndInATreeOrALoop()
    {
        var rng = new Random(4242);
        int trees = 0, loops = 0;
        for (int round = 0; round < 300; round++)
        {
            var index = new TarIndex();
            var archives = new List<TarArchive>();
            try
            {
                for (int layer = 0; layer < 3; layer++)
                {
                    var archive = await TarArchive.OpenAsync(new MemoryStream(RandomLayer(rng)), $"layer {layer}", null);
                    archives.Add(archive);
                    index.ApplyLayer(archive, ociLayer: true);
                }
                foreach (var e in index.Walk())
                {
                    Assert.True(TreePath.IsValid(e.Path), e.Path);
                    Assert.DoesNotContain(e.Path.Split('/'), p => p.StartsWith(".wh.", StringComparison.Ordinal));
                    if (e.OpenContent is null) continue;
                    using var content = e.OpenContent();
                    await content.ReadExactlyAtAsync(0, new byte[content.Length]);
                }
                trees++;
            }
            catch (ImageFormatException e) when (e.Kind == ImageErrorKind.Loop)
            {
                loops++;
            }
            finally
            {
                foreach (var a in archives) a.Dispose();
            }
        }
        Assert.True(trees > 200, $"{trees} trees, {loops} loops");
    }

    private static byte[] RandomLayer(Random rng)
    {
        var tar = new MemoryStream();
        var header = new byte[512];
        for (int i = rng.Next(1, 25); i > 0; i--)
        {
            var name = string.Join('/', Enumerable.Range(0, rng.Next(1, 4)).Select(_ => Parts[rng.Next(Parts.Length)]));
            if (rng.Next(5) == 0) name = "/" + name;
            byte type = rng.Next(6) switch
            {
                0 => TarHeader.TypeFlags.Directory,
                1 => TarHeader.TypeFlags.SymbolicLink,
                2 => TarHeader.TypeFlags.HardLink,
                3 => TarHeader.TypeFlags.Fifo,
                _ => TarHeader.TypeFlags.RegularFile,
            };
            var target = type == TarHeader.TypeFlags.HardLink
                ? string.Join('/', Enumerable.Range(0, rng.Next(1, 3)).Select(_ => Parts[rng.Next(3)]))
                : Targets[rng.Next(Targets.Length)];
            var data = type == TarHeader.TypeFlags.RegularFile ? System.Text.Encoding.ASCII.GetBytes($"content {i}") : [];
            TarHeader.WriteUstar(header, System.Text.Encoding.ASCII.GetBytes(name), 0x1ED, 0, 0, data.Length, 0, type,
                type is TarHeader.TypeFlags.SymbolicLink or TarHeader.TypeFlags.HardLink ? System.Text.Encoding.ASCII.GetBytes(target) : default, 0, 0);
            tar.Write(header);
            tar.Write(data);
            tar.Write(new byte[(512 - data.Length % 512) % 512]);
        }
        tar.Write(new byte[1024]);
        return tar.ToArray();
    }
}
