using System.Text.Json;
using RootfsForge.NativeTests.Disks;
using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Reliability;

/// <summary>
/// The image and the files it refers to (docs/disk-formats.md §1.7), through the built CLI: non-regular files are
/// refused at once, backing files stay inside the image's folder unless allowed and inspect shows the chain.
/// </summary>
public sealed class ImageInputReliabilityTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    // ------------------------------------------------------------------ #2

    /// <summary>A FIFO as the image, the backing file and the data file: exit 3 within seconds, never a hang or a crash.</summary>
    [SkippableTheory]
    [InlineData("image")]
    [InlineData("backing file")]
    [InlineData("external data file")]
    public void FifoIsRefusedAtOnce(string role)
    {
        ReliabilityCli.Require();
        DiskFixtures.RequireQemu();
        TestEnvironment.RequireTool("mkfifo");
        string dir = TestEnvironment.NewTempDir("rff-fifo");
        try
        {
            string fifo = Path.Combine(dir, "fifo");
            TestEnvironment.RunChecked("mkfifo", [fifo]);
            string image = role switch
            {
                "image" => fifo,
                "backing file" => Path.Combine(dir, "ov.qcow2"),
                _ => Path.Combine(dir, "img.qcow2"),
            };
            if (role == "backing file")
                DiskFixtures.Qemu("qemu-img", ["create", "-q", "-f", "qcow2", "-u", "-b", fifo, "-F", "raw", "ov.qcow2", "8M"], dir);
            if (role == "external data file")
            {
                DiskFixtures.Qemu("qemu-img", ["create", "-q", "-f", "qcow2", "-o", "data_file=data.bin", "img.qcow2", "8M"], dir);
                File.Delete(Path.Combine(dir, "data.bin"));
                TestEnvironment.RunChecked("mkfifo", [Path.Combine(dir, "data.bin")]);
            }
            foreach (var args in new[] { new[] { "inspect", image }, ["extract", image, "-o", Path.Combine(dir, "out.tar")] })
            {
                var r = ReliabilityCli.Run(Deadline, args);
                Assert.True(r.ExitCode == 3, $"{role}, {args[0]}: {r}");
                Assert.Contains("not a regular file or block device", r.StdErr);
                Assert.DoesNotContain("Unhandled exception", r.StdErr);
                Assert.True(r.Elapsed < TimeSpan.FromSeconds(15), $"{role}, {args[0]}: took {r.Elapsed.TotalSeconds:F1} s");
            }
            Assert.False(File.Exists(Path.Combine(dir, "out.tar")));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [SkippableFact]
    public void DirectoryAsImageIsAUsageError()
    {
        ReliabilityCli.Require();
        string dir = TestEnvironment.NewTempDir("rff-dir");
        try
        {
            // extract, ls and cat take any tree input (a directory too, see TreeInput); inspect of a path does not.
            var r = ReliabilityCli.Run(Deadline, "inspect", dir);
            Assert.True(r.ExitCode == 2, $"inspect: {r}");
            Assert.Contains("is a directory, not a disk image", r.StdErr);
            Assert.Empty(ReliabilityCli.Entries(dir));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    // ------------------------------------------------------------------ #5

    [SkippableTheory]
    [InlineData("abs.qcow2")]
    [InlineData("dotdot.qcow2")]
    [InlineData("escape.qcow2")]
    [InlineData("chain.qcow2")]
    public void HostFileBehindABackingPathIsNotRead(string name)
    {
        ReliabilityCli.Require();
        DiskFixtures.RequireQemu();
        TestEnvironment.RequireTool("mke2fs");
        string fixture = BackingConfinementTests.Fixture();
        string image = Path.Combine(fixture, "img", name);
        string outside = Path.Combine(fixture, "outside");

        var cat = ReliabilityCli.Run(Deadline, "cat", image, "/secret");
        Assert.True(cat.ExitCode == 3, $"cat {name}: {cat}");
        Assert.DoesNotContain("host secret", cat.StdOut);
        Assert.Contains(Path.Combine(outside, "secret.raw"), cat.StdErr);
        Assert.Contains("--allow-backing-outside", cat.StdErr);

        string work = TestEnvironment.NewTempDir("rff-backing");
        try
        {
            var extract = ReliabilityCli.Run(Deadline, "extract", image, "-o", Path.Combine(work, "o.tar"));
            Assert.True(extract.ExitCode == 3, $"extract {name}: {extract}");
            Assert.Empty(ReliabilityCli.Entries(work));
        }
        finally
        {
            Directory.Delete(work, true);
        }

        // Allowed explicitly, the same image reads the backing file's data.
        var allowed = ReliabilityCli.Run(Deadline, "cat", image, "/secret", "--allow-backing-outside", outside);
        Assert.True(allowed.ExitCode == 0, $"cat {name} --allow-backing-outside: {allowed}");
        Assert.Equal("host secret\n", allowed.StdOut);
    }

    [SkippableFact]
    public void InsideTheFolderNeedsNoOption()
    {
        ReliabilityCli.Require();
        DiskFixtures.RequireQemu();
        TestEnvironment.RequireTool("mke2fs");
        string img = Path.Combine(BackingConfinementTests.Fixture(), "img");
        foreach (var (name, expected) in new[] { ("inside.qcow2", "inside data\n"), ("deep.qcow2", "inside sub data\n"), ("inlink.qcow2", "inside data\n") })
        {
            var r = ReliabilityCli.Run(Deadline, "cat", Path.Combine(img, name), "/secret");
            Assert.True(r.ExitCode == 0, $"{name}: {r}");
            Assert.Equal(expected, r.StdOut);
        }
    }

    /// <summary>inspect lists every image of the chain with the file actually read, in text and JSON.</summary>
    [SkippableFact]
    public void InspectShowsTheWholeChain()
    {
        ReliabilityCli.Require();
        DiskFixtures.RequireQemu();
        TestEnvironment.RequireTool("mke2fs");
        string fixture = BackingConfinementTests.Fixture();
        string image = Path.Combine(fixture, "img", "chain.qcow2");
        string outside = Path.Combine(fixture, "outside");
        string secret = Path.Combine(outside, "secret.raw");

        var text = ReliabilityCli.Run(Deadline, "inspect", image, "--allow-backing-outside", outside);
        Assert.True(text.ExitCode == 0, text.ToString());
        var chain = text.StdOut.Split('\n').SkipWhile(l => !l.StartsWith("chain:", StringComparison.Ordinal))
            .TakeWhile(l => l.StartsWith("chain:", StringComparison.Ordinal) || l.StartsWith("              ", StringComparison.Ordinal))
            .ToList();
        Assert.Equal(3, chain.Count);
        Assert.Contains(image, chain[0]);
        Assert.Contains(Path.Combine(fixture, "img", "mid.qcow2"), chain[1]);
        Assert.Contains("named 'mid.qcow2'", chain[1]);
        Assert.Contains(secret, chain[2]);
        Assert.Contains("raw", chain[2]);

        var json = ReliabilityCli.Run(Deadline, "inspect", image, "--json", "--allow-backing-outside", outside);
        Assert.True(json.ExitCode == 0, json.ToString());
        using var doc = JsonDocument.Parse(json.StdOut);
        var backing = doc.RootElement.GetProperty("backingChain").EnumerateArray().ToList();
        Assert.Equal(2, backing.Count);
        Assert.Equal("qcow2", backing[0].GetProperty("format").GetString());
        Assert.Equal("mid.qcow2", backing[0].GetProperty("backingFileName").GetString());
        Assert.Equal("raw", backing[1].GetProperty("format").GetString());
        Assert.Equal(secret, backing[1].GetProperty("resolvedPath").GetString());
        Assert.Equal(secret, backing[1].GetProperty("backingFileName").GetString());
        Assert.Equal(image, doc.RootElement.GetProperty("resolvedPath").GetString());
    }
}
