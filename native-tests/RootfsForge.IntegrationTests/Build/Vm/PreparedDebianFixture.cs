using RootfsForge.NativeTests.Support;
using RootfsForge.Steps;
using RootfsForge.Vm;
using Xunit;

namespace RootfsForge.NativeTests.Vm;

/// <summary>
/// One end-to-end <see cref="VmBuild"/> of the cached Debian 12 qcow2 image (read in-process) (built once per test run, shared by the tests of
/// the collection): --install hello, a --copy with owner/mode, a --run and a --run-script; output a .tar.zst; the
/// staging tree kept (--keep-staging) for the lint, kernel and boot tests.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class PreparedDebianFixture : IAsyncLifetime
{
    public async Task InitializeAsync()
    {
        if (!TestEnvironment.IsRoot) { SkipReason = "needs root: chroot and mounts"; return; }
        if (!File.Exists(Image)) { SkipReason = $"no cached image {Image} (run tools/make-debian-image.sh)"; return; }
        Dir = DebianTree.NewPrivateDir();
        Directory.CreateDirectory(Path.Combine(Dir, "in"));
        File.WriteAllText(Path.Combine(Dir, "in", "motd"), "copied by the test\n");
        File.WriteAllText(Path.Combine(Dir, "in", "script.sh"), "#!/bin/sh\nset -e\necho \"script ran as $(id -u)\" > /root/script-ran\n");
        Output = Path.Combine(Dir, "out.tar.zst");
        Kept = Path.Combine(Dir, "staging");
        try
        {
            Result = await VmBuild.RunAsync(VmInputs.ExtractFrom(Image, Log.Add), VmInputs.WriteTo(RootfsForge.Sinks.OutputSpec.Parse(Output)), new VmBuildOptions
            {
                Install = ["hello"],
                Copies = [CopySpec.Parse($"{Path.Combine(Dir, "in", "motd")}:/etc/motd:1000:1001:0640")],
                Runs = ["echo ran-in-chroot > /root/ran && test -c /dev/null && test -d /proc/self"],
                RunScripts = [Path.Combine(Dir, "in", "script.sh")],
                KeepStaging = Kept,
                Progress = Log.Add,
                CommandOutput = Log.Add,
            });
        }
        catch (Exception e)
        {
            Failure = e;
        }
    }

    public const string Image = "/var/cache/rootfsforge/debian12-zstd.qcow2";

    public string? SkipReason { get; private set; }
    public Exception? Failure { get; private set; }
    public string Dir { get; private set; } = "";
    public string Output { get; private set; } = "";
    public string Kept { get; private set; } = "";
    public string Tree => Path.Combine(Kept, "rootfs");
    public VmBuildResult? Result { get; private set; }
    public List<string> Log { get; } = [];

    /// <summary>Skips when the build could not run; fails when it ran and threw.</summary>
    public void Require()
    {
        Skip.If(SkipReason is not null, SkipReason);
        if (Failure is not null) throw new InvalidOperationException("the shared VM build failed:\n" + string.Join('\n', Log.TakeLast(40)), Failure);
    }

    public Task DisposeAsync()
    {
        if (Dir.Length > 0 && MountTable.MountsUnder(Dir).Count == 0) TestEnvironment.Run("rm", ["-rf", "--one-file-system", Dir]);
        return Task.CompletedTask;
    }
}

[CollectionDefinition(Name)]
public sealed class PreparedDebianCollection : ICollectionFixture<PreparedDebianFixture>
{
    public const string Name = "prepared debian12 VM build";
}
