using RootfsForge.Hub;
using RootfsForge.NativeTests.Flist;
using RootfsForge.NativeTests.Support;
using RootfsForge.Sinks.Hub;
using RootfsForge.Sources.Directories;
using Xunit;

namespace RootfsForge.NativeTests.Hub;

/// <summary><see cref="HubSink"/> (<c>-o hub:NAME</c> in the library) against the Flask hub stand-in.</summary>
public class HubSinkTests(HubStandin hub) : IClassFixture<HubStandin>, IAsyncLifetime
{
    private static readonly HubClientOptions Fast = new() { PublishTimeout = TimeSpan.FromSeconds(5) };

    public Task InitializeAsync() => hub.ResetAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    [SkippableFact]
    public async Task StreamsTheTreeChunked_FollowsAnAsyncJob_AndTheHubUnpacksTheTree()
    {
        hub.Require();
        await hub.ConfigureAsync(new { async_api = true });
        var dir = TestEnvironment.NewTempDir("rff-hubsink");
        var src = HubTrees.Make(dir);
        using var client = new HubClient(hub.Url, HubStandin.Token, Fast);
        var sink = new HubSink(client, "streamed");
        await using (sink)
        {
            await foreach (var entry in new DirectorySource(src).WalkAsync()) await sink.AddAsync(entry);
            await sink.CompleteAsync();
        }
        Assert.Equal("streamed.flist", sink.Result!.Name);
        Assert.NotNull(sink.Result.JobId);
        Assert.Equal("chunked", HubStandin.Str(hub.UploadRequestOf("streamed.tar.gz"), "transfer_encoding"));
        var upload = hub.UploadOf("streamed.tar.gz");
        Assert.Equal(0, upload.GetProperty("tar_exit").GetInt32());
        Assert.Equal(HubTrees.Listing(src), HubTrees.Listing(HubStandin.Str(upload, "workspace")!));
    }

    [SkippableFact]
    public async Task RefusedToken_FailsClearly_WithoutTheToken()
    {
        hub.Require();
        const string wrong = "another-token-9d2";
        using var client = new HubClient(hub.Url, wrong, Fast);
        var e = await Assert.ThrowsAnyAsync<IOException>(async () =>
        {
            await using var sink = new HubSink(client, "x");
            foreach (var entry in TreeFixtures.InWalkOrder([TreeFixtures.Dir(""), TreeFixtures.File("a", [1, 2, 3])]))
                await sink.AddAsync(entry);
            await sink.CompleteAsync();
        });
        Assert.Equal(401, Assert.IsType<HubException>(e).StatusCode);
        Assert.DoesNotContain(wrong, e.ToString());
    }

    /// <summary>A build that fails mid-tree aborts the request mid-body: the hub never unpacks or publishes anything.</summary>
    [SkippableFact]
    public async Task AbortedBuild_TheHubNeverGetsACompleteArchive()
    {
        hub.Require();
        using var client = new HubClient(hub.Url, HubStandin.Token, Fast);
        await using (var sink = new HubSink(client, "aborted"))
        {
            await sink.AddAsync(TreeFixtures.Dir(""));
            await sink.AddAsync(TreeFixtures.File("big", TreeFixtures.Random(8 << 20, 9)));
            // Disposed without CompleteAsync: what a failed or cancelled build does.
        }
        await Task.Delay(500);
        var log = hub.Requests();
        Assert.DoesNotContain(log, r => HubStandin.Str(r, "path") == "/api/flist/me/upload" && r.GetProperty("status").GetInt32() == 200);
        Assert.DoesNotContain(log, r => HubStandin.Str(r, "kind") == "published");
        Assert.False(File.Exists(hub.PublishedPath("aborted.flist")));
    }
}
