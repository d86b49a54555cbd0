using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;
using RootfsForge.NativeTests.Support;
using Xunit;
using Xunit.Abstractions;

namespace RootfsForge.NativeTests.Packaging;

/// <summary>
/// `dotnet tool install rootfsforge` as a user runs it, from the locally packed feed: the package id is the command's
/// name, the machine gets the Native AOT build for its platform, and the installed command works, natives included
/// (SQLite and libsodium through `fl pack`, the ext4 reader through `ls` and `extract`, checked against mke2fs's input
/// and GNU tar).
/// </summary>
[Collection(PackageFeedCollection.Name)]
public sealed class ToolPackageTests(PackageFeed feed, ITestOutputHelper output)
{
    [SkippableFact]
    public void ToolInstallsByItsCommandNameAndRuns()
    {
        feed.Require();
        var toolPath = TestEnvironment.NewTempDir("rff-tool");
        try
        {
            var (code, stdout, stderr) = TestEnvironment.Run("dotnet",
                ["tool", "install", "--tool-path", toolPath, "--add-source", feed.Directory, "rootfsforge", "--version", feed.Version],
                timeout: TimeSpan.FromMinutes(10));
            Assert.True(code == 0, $"dotnet tool install exited {code}: {stdout}{stderr}");

            string exe = Path.Combine(toolPath, "rootfsforge");
            Assert.StartsWith(feed.Version + "+", TestEnvironment.RunChecked(exe, ["--version"]).Trim());
            string help = TestEnvironment.RunChecked(exe, ["--help"]);
            Assert.Contains("rootfsforge [command] [options]", help);
            foreach (var command in new[] { "inspect", "ls", "extract", "vm", "fl", "push", "completion" })
                Assert.Contains($"\n  {command} ", help);

            // What was installed: the AOT executable for linux-x64 and the two linux-x64 natives, nothing for other
            // platforms (the framework-dependent package carried SQLite and libsodium builds for iOS, Android, wasm...).
            var files = Directory.GetFiles(Path.Combine(toolPath, ".store"), "*", SearchOption.AllDirectories);
            long installed = files.Sum(f => new FileInfo(f).Length);
            output.WriteLine($"installed: {installed:N0} bytes in {files.Length} files; package {new FileInfo(feed.Package("rootfsforge.linux-x64")).Length:N0} bytes");
            Assert.DoesNotContain(files, f => f.Contains("/runtimes/", StringComparison.Ordinal)
                || Path.GetExtension(f) is ".dll" or ".pdb" or ".dbg" || Path.GetFileName(f).StartsWith("RootfsForge.", StringComparison.Ordinal));
            Assert.Contains(files, f => f.EndsWith("/libe_sqlite3.so", StringComparison.Ordinal));
            Assert.Contains(files, f => f.EndsWith("/libsodium.so", StringComparison.Ordinal));
            var elf = File.ReadAllBytes(files.Single(f => f.EndsWith("/linux-x64/rootfsforge", StringComparison.Ordinal)))[..4];
            Assert.Equal([0x7f, (byte)'E', (byte)'L', (byte)'F'], elf);
            Assert.True(installed < 40_000_000, $"the installed tool takes {installed:N0} bytes");

            InstalledToolWorks(exe);
        }
        finally
        {
            Directory.Delete(toolPath, recursive: true);
        }
    }

    [SkippableFact]
    public void PackagesCarryReadmeLicenseRepositoryAndSymbols()
    {
        feed.Require();
        foreach (var id in new[] { "RootfsForge.Formats", "RootfsForge.Core", "RootfsForge.Build", "rootfsforge" })
        {
            using var zip = ZipFile.OpenRead(feed.Package(id));
            var nuspec = new StreamReader(zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open()).ReadToEnd();
            Assert.Contains("<readme>README.md</readme>", nuspec);
            Assert.NotNull(zip.GetEntry("README.md"));
            Assert.Contains("<license type=\"expression\">Apache-2.0</license>", nuspec);
            Assert.Contains("<repository type=\"git\" url=\"", nuspec);
            Assert.Contains("commit=\"", nuspec);
            Assert.Contains("<tags>", nuspec);
            if (id == "rootfsforge") continue;
            // Symbols: the .snupkg's .pdb maps the sources to the repository at the commit the nuspec names (SourceLink).
            string commit = Regex.Match(nuspec, "commit=\"([0-9a-f]{40})\"").Groups[1].Value;
            Assert.NotEqual("", commit);
            using var symbols = ZipFile.OpenRead(Path.ChangeExtension(feed.Package(id), ".snupkg"));
            using var pdb = new MemoryStream();
            symbols.GetEntry($"lib/net10.0/{id}.pdb")!.Open().CopyTo(pdb);
            var sourceLink = Regex.Match(Encoding.UTF8.GetString(pdb.ToArray()), "\\{\"documents\":\\{[^}]*\\}\\}");
            Assert.True(sourceLink.Success, $"{id}: no SourceLink in the .pdb");
            Assert.Contains($"/{commit}/*", sourceLink.Value);
        }
        // The library ids must not collide with the tool's id: NuGet ids are case-insensitive.
        Assert.Single(Directory.GetFiles(feed.Directory, "*.nupkg"), f => Path.GetFileName(f).StartsWith("rootfsforge.0", StringComparison.OrdinalIgnoreCase));
    }

    private static void InstalledToolWorks(string exe)
    {
        TestEnvironment.RequireTool("mke2fs");
        TestEnvironment.RequireTool("tar");
        var dir = TestEnvironment.NewTempDir("rff-tool-run");
        try
        {
            var tree = Path.Combine(dir, "tree");
            Directory.CreateDirectory(Path.Combine(tree, "etc"));
            File.WriteAllText(Path.Combine(tree, "etc", "os-release"), "ID=debian\nVERSION_ID=\"12\"\n");
            var big = new byte[1_500_000];
            new Random(12).NextBytes(big);
            File.WriteAllBytes(Path.Combine(tree, "big.bin"), big);
            var image = Path.Combine(dir, "small.img");
            TestEnvironment.RunChecked("mke2fs", ["-q", "-t", "ext4", "-d", tree, image, "8M"]);

            var ls = TestEnvironment.RunChecked(exe, ["ls", image, "/"]).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(["big.bin", "etc", "lost+found"], ls.Order(StringComparer.Ordinal));

            var tar = Path.Combine(dir, "out.tar");
            TestEnvironment.RunChecked(exe, ["extract", image, "-o", tar, "-q"]);
            Assert.Equal("ID=debian\nVERSION_ID=\"12\"\n", TestEnvironment.RunChecked("tar", ["-xOf", tar, "./etc/os-release"]));

            // .fl: SQLite (e_sqlite3) and libsodium (BLAKE2b) from the AOT build's native libraries.
            var store = Path.Combine(dir, "store");
            Directory.CreateDirectory(store);
            var fl = Path.Combine(dir, "x.fl");
            TestEnvironment.RunChecked(exe, ["fl", "pack", tree, "-o", fl, "--store", $"dir://{store}", "-q"]);
            var catPath = Path.Combine(dir, "big.out");
            var (code, _, stderr) = TestEnvironment.Run("sh", ["-c", $"'{exe}' fl cat '{fl}' /big.bin > '{catPath}'"]);
            Assert.True(code == 0, stderr);
            Assert.Equal(big, File.ReadAllBytes(catPath));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
