using RootfsForge.Sinks.Flist;
using RootfsForge.Sources.Flist;
using RootfsForge.Stores;
using RootfsForge.Tree;

namespace RootfsForge.NativeTests.Flist;

internal static class FlistTestSupport
{
    /// <summary>Writes <paramref name="entries"/> into <paramref name="flPath"/> with blocks in <paramref name="stores"/>.</summary>
    public static FlistSink Pack(string flPath, IEnumerable<TreeEntry> entries, params BlockStoreRoute[] stores)
    {
        var sink = new FlistSink(flPath, new FlistSinkOptions { Stores = stores, Tags = new Dictionary<string, string> { ["author"] = "tests" } });
        try
        {
            foreach (var e in entries) sink.Add(e);
            sink.Complete();
        }
        finally
        {
            sink.Dispose();
        }
        return sink;
    }

    public static async Task<List<string>> ReadBackAsync(string flPath, params BlockStoreRoute[] stores)
    {
        await using var source = FlistSource.Open(flPath, stores.Length == 0 ? null : stores);
        return TreeFixtures.Canonical(source.Walk());
    }

    /// <summary>A free TCP port on 127.0.0.1.</summary>
    public static int FreePort()
    {
        var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        int port = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    public static void WaitForPort(int port, TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                using var c = new System.Net.Sockets.TcpClient();
                c.Connect(System.Net.IPAddress.Loopback, port);
                return;
            }
            catch (System.Net.Sockets.SocketException) when (DateTime.UtcNow < until)
            {
                Thread.Sleep(100);
            }
        }
    }
}

/// <summary>Wraps a store and counts the calls, to check dedup (no mocks of behaviour: every call goes through).</summary>
internal sealed class CountingStore(IBlockStore inner) : IBlockStore
{
    public int Puts, Exists, Gets;
    public string Url => inner.Url;
    public bool IsReadOnly => inner.IsReadOnly;

    public Task<bool> ExistsAsync(ReadOnlyMemory<byte> id, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref Exists);
        return inner.ExistsAsync(id, cancellationToken);
    }

    public Task PutAsync(ReadOnlyMemory<byte> id, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref Puts);
        return inner.PutAsync(id, data, cancellationToken);
    }

    public Task<byte[]?> GetAsync(ReadOnlyMemory<byte> id, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref Gets);
        return inner.GetAsync(id, cancellationToken);
    }

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
