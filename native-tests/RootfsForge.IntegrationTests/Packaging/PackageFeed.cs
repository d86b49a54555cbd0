using RootfsForge.NativeTests.Support;
using Xunit;

namespace RootfsForge.NativeTests.Packaging;

/// <summary>
/// The repository's NuGet packages packed once per test run into a temporary folder feed, as a release would pack them:
/// the libraries (RootfsForge.Formats/.Core/.Build, from the Release build the suite already made), the tool's package
/// <c>rootfsforge</c> and its Native AOT package for this machine, <c>rootfsforge.linux-x64</c> (compiled here; a few
/// minutes). The version gets a unique prerelease suffix, so NuGet's global package cache never hands an older pack of
/// the same version to a later run; the fixture removes those versions from the cache again at the end.
/// </summary>
public sealed class PackageFeed : IDisposable
{
    /// <summary>The packages' version, e.g. 0.2.0-test.20261204171500.</summary>
    public string Version { get; }

    /// <summary>The folder feed (pass it with <c>--add-source</c>).</summary>
    public string Directory { get; }

    /// <summary>Why the feed could not be made (the tests that need it skip with this reason), or null.</summary>
    public string? Unavailable { get; }

    private readonly string _suffix = $"test.{DateTime.UtcNow:yyyyMMddHHmmss}";

    public PackageFeed()
    {
        Directory = TestEnvironment.NewTempDir("rff-feed");
        Version = $"{ReadVersionPrefix()}-{_suffix}";
        if (TestEnvironment.FindOnPath("clang") is null)
        {
            Unavailable = "needs clang to compile the tool with Native AOT (tools/setup.sh installs it)";
            return;
        }
        // The libraries and the tool's pointer package from the existing Release build; then the linux-x64 tool,
        // published with Native AOT into its own bin/obj folders (linux-x64/), so the framework-dependent build other
        // tests run is not touched. No build servers: they would outlive the command and hold its output pipes open.
        string[] common = ["-c", "Release", "-o", Directory, "-nologo", "-v", "q", $"-p:VersionSuffix={_suffix}", "--disable-build-servers"];
        Dotnet(["pack", Path.Combine(TestEnvironment.RepoRoot, "RootfsForge.sln"), "--no-build", .. common]);
        Dotnet(["pack", Path.Combine(TestEnvironment.RepoRoot, "src", "RootfsForge.Cli"), "-r", "linux-x64", .. common]);
    }

    /// <summary>Skips the calling test when the feed could not be made.</summary>
    public void Require() => Skip.If(Unavailable is not null, Unavailable);

    /// <summary>The path of a package in the feed, e.g. <c>Package("rootfsforge.linux-x64")</c>.</summary>
    public string Package(string id) => Path.Combine(Directory, $"{id}.{Version}.nupkg");

    private static void Dotnet(string[] args)
    {
        var (code, stdout, stderr) = TestEnvironment.Run("nice", ["dotnet", .. args], timeout: TimeSpan.FromMinutes(30),
            environment: new Dictionary<string, string> { ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1", ["DOTNET_NOLOGO"] = "1" });
        if (code != 0) throw new InvalidOperationException($"dotnet {string.Join(' ', args)} exited {code}:\n{stdout}{stderr}");
    }

    private static string ReadVersionPrefix()
    {
        var props = File.ReadAllText(Path.Combine(TestEnvironment.RepoRoot, "Directory.Build.props"));
        int start = props.IndexOf("<VersionPrefix>", StringComparison.Ordinal) + "<VersionPrefix>".Length;
        return props[start..props.IndexOf("</VersionPrefix>", start, StringComparison.Ordinal)];
    }

    public void Dispose()
    {
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
        // Only this run's versions: the cache's other contents belong to the machine.
        var cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } p
            ? p
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        foreach (var id in new[] { "rootfsforge", "rootfsforge.linux-x64", "rootfsforge.formats", "rootfsforge.core", "rootfsforge.build" })
        {
            var dir = Path.Combine(cache, id, Version.ToLowerInvariant());
            try { if (System.IO.Directory.Exists(dir)) System.IO.Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }
}

/// <summary>The tests that share one <see cref="PackageFeed"/> (they run one after another).</summary>
[CollectionDefinition(Name)]
public sealed class PackageFeedCollection : ICollectionFixture<PackageFeed>
{
    public const string Name = "package feed";
}
