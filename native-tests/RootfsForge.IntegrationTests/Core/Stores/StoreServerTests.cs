using System.Net;
using System.Net.Sockets;
using System.Text;
using RootfsForge.Stores;
using RootfsForge.NativeTests.Support;
using Xunit;
using static RootfsForge.NativeTests.Flist.FlistTestSupport;

namespace RootfsForge.NativeTests.Flist;

public class StoreServerTests
{
    [SkippableFact]
    public async Task Zdb_AgainstRedis_RoundTripAndDedup()
    {
        using var redis = ServerProcess.StartRedis();
        var dir = TestEnvironment.NewTempDir("rff-zdb");
        var tree = TreeFixtures.SampleTree(seed: 11);
        string url = $"zdb://127.0.0.1:{redis.Port}";
        await using (var store = BlockStore.Open(url))
        {
            var counting = new CountingStore(store);
            var sink = Pack(Path.Combine(dir, "a.fl"), tree, new BlockStoreRoute(0, 255, counting));
            Assert.True(counting.Puts > 0);
            Assert.Equal(counting.Puts, sink.Blocks.BlocksUploaded);
            Assert.Equal(TreeFixtures.Canonical(tree), await ReadBackAsync(Path.Combine(dir, "a.fl")));

            // Second build into the same store: nothing new to upload.
            var again = new CountingStore(store);
            var sink2 = Pack(Path.Combine(dir, "b.fl"), tree, new BlockStoreRoute(0, 255, again));
            Assert.Equal(0, again.Puts);
            Assert.Equal(counting.Puts, sink2.Blocks.BlocksAlreadyPresent);
        }
        // The route table holds the zdb URL; reading opens it from the file.
        Assert.Equal(TreeFixtures.Canonical(tree), await ReadBackAsync(Path.Combine(dir, "b.fl")));
    }

    [SkippableFact]
    public async Task Zdb_AgainstRedis_RawKeysAndMissingBlock()
    {
        using var redis = ServerProcess.StartRedis();
        await using var store = BlockStore.Open($"zdb://127.0.0.1:{redis.Port}/default");
        var id = Enumerable.Range(0, 32).Select(i => (byte)(i * 7)).ToArray();
        Assert.False(await store.ExistsAsync(id));
        Assert.Null(await store.GetAsync(id));
        await store.PutAsync(id, new byte[] { 0, 1, 2, 13, 10, 255 });
        Assert.True(await store.ExistsAsync(id));
        Assert.Equal(new byte[] { 0, 1, 2, 13, 10, 255 }, await store.GetAsync(id));
        // Concurrency through the pool.
        await Task.WhenAll(Enumerable.Range(0, 50).Select(async i =>
        {
            var k = (byte[])id.Clone();
            k[0] = (byte)i;
            await store.PutAsync(k, Encoding.ASCII.GetBytes($"v{i}"));
            Assert.Equal($"v{i}", Encoding.ASCII.GetString((await store.GetAsync(k))!));
        }));
    }

    [SkippableFact]
    public async Task Zdb_UnixSocket_AgainstRedis()
    {
        TestEnvironment.RequireTool("redis-server");
        var dir = TestEnvironment.NewTempDir("rff-zdbsock");
        string sock = Path.Combine(dir, "redis.sock");
        var psi = new System.Diagnostics.ProcessStartInfo("redis-server")
        {
            ArgumentList = { "--port", "0", "--unixsocket", sock, "--save", "", "--appendonly", "no" },
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        using var redis = System.Diagnostics.Process.Start(psi)!;
        try
        {
            for (int i = 0; i < 100 && !File.Exists(sock); i++) await Task.Delay(100);
            Assert.True(File.Exists(sock), "redis-server did not create its socket");
            await using var store = BlockStore.Open($"zdb://{sock}");
            var id = Enumerable.Range(0, 32).Select(i => (byte)(255 - i)).ToArray();
            await store.PutAsync(id, "block"u8.ToArray());
            Assert.True(await store.ExistsAsync(id));
            Assert.Equal("block"u8.ToArray(), await store.GetAsync(id));
        }
        finally
        {
            redis.Kill();
            redis.WaitForExit(10_000);
        }
    }

    [Fact]
    public async Task Zdb_SendsSelectWithPassword_ExactBytes()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var id = Enumerable.Range(0, 32).Select(i => (byte)(0xA0 + i)).ToArray();
        // Replies as 0-db 2.x gives them: SELECT +OK, EXISTS :0, SET answers the key as a bulk string.
        var server = FakeServerAsync(listener, [
            "+OK\r\n"u8.ToArray(), ":0\r\n"u8.ToArray(), [.. "$32\r\n"u8.ToArray(), .. id, .. "\r\n"u8.ToArray()],
        ]);
        await using (var store = BlockStore.Open($"zdb://writer:s3cr%3At@127.0.0.1:{port}/myns"))
        {
            Assert.Equal($"zdb://writer@127.0.0.1:{port}/myns", store.Url);
            Assert.False(await store.ExistsAsync(id));
            await store.PutAsync(id, "DATA"u8.ToArray());
        }
        var received = await server;
        listener.Stop();
        byte[] expected =
        [
            .. "*3\r\n$6\r\nSELECT\r\n$4\r\nmyns\r\n$6\r\ns3cr:t\r\n"u8.ToArray(),
            .. "*2\r\n$6\r\nEXISTS\r\n$32\r\n"u8.ToArray(), .. id, .. "\r\n"u8.ToArray(),
            .. "*3\r\n$3\r\nSET\r\n$32\r\n"u8.ToArray(), .. id, .. "\r\n$4\r\nDATA\r\n"u8.ToArray(),
        ];
        Assert.Equal(Encoding.Latin1.GetString(expected), Encoding.Latin1.GetString(received));
    }

    /// <summary>Accepts one connection, answers each complete command with the next reply, returns the bytes received.</summary>
    private static async Task<byte[]> FakeServerAsync(TcpListener listener, byte[][] replies)
    {
        using var client = await listener.AcceptTcpClientAsync();
        var s = client.GetStream();
        var received = new MemoryStream();
        var buf = new byte[65536];
        int answered = 0;
        while (answered < replies.Length)
        {
            int n = await s.ReadAsync(buf);
            if (n == 0) break;
            received.Write(buf, 0, n);
            while (answered < CompleteCommands(received.ToArray()) && answered < replies.Length)
                await s.WriteAsync(replies[answered++]);
        }
        return received.ToArray();
    }

    /// <summary>Counts complete RESP commands (arrays of bulk strings) in a byte prefix.</summary>
    private static int CompleteCommands(byte[] data)
    {
        int count = 0, pos = 0;
        while (pos < data.Length)
        {
            if (!TryLine(data, ref pos, out string head) || head[0] != '*') return count;
            int args = int.Parse(head[1..]);
            for (int a = 0; a < args; a++)
            {
                if (!TryLine(data, ref pos, out string len)) return count;
                pos += int.Parse(len[1..]) + 2;
                if (pos > data.Length) return count;
            }
            count++;
        }
        return count;
    }

    private static bool TryLine(byte[] data, ref int pos, out string line)
    {
        int end = Array.IndexOf(data, (byte)'\n', pos);
        line = "";
        if (end < 0) return false;
        line = Encoding.Latin1.GetString(data, pos, end - pos - 1);
        pos = end + 1;
        return true;
    }

    [Fact]
    public async Task Zdb_ReadOnlyNamespaceError_IsClearAndHasNoPassword()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var server = FakeServerAsync(listener,
            ["+OK\r\n"u8.ToArray(), ":0\r\n"u8.ToArray(), "-Namespace is in read-only mode\r\n"u8.ToArray()]);
        await using var store = BlockStore.Open($"zdb://:hunter2@127.0.0.1:{port}/pub");
        Assert.False(await store.ExistsAsync(new byte[32]));
        var e = await Assert.ThrowsAsync<BlockStoreException>(() => store.PutAsync(new byte[32], "x"u8.ToArray()));
        Assert.Contains("read-only", e.Message);
        Assert.DoesNotContain("hunter2", e.ToString());
        await server;
        listener.Stop();
    }

    [SkippableFact]
    public async Task S3_AgainstS3rver_RoundTripWithSignatures()
    {
        var dir = TestEnvironment.NewTempDir("rff-s3");
        using var s3 = ServerProcess.StartS3rver(Path.Combine(dir, "s3data"));
        var tree = TreeFixtures.SampleTree(seed: 21);
        string url = $"s3://S3RVER:S3RVER@127.0.0.1:{s3.Port}/blocks?region=us-east-1";
        await using (var store = BlockStore.Open(url))
        {
            Assert.Equal($"s3://S3RVER@127.0.0.1:{s3.Port}/blocks?region=us-east-1", store.Url);
            var counting = new CountingStore(store);
            var sink = Pack(Path.Combine(dir, "a.fl"), tree, new BlockStoreRoute(0, 255, counting));
            Assert.True(counting.Puts > 0);
            Assert.Equal(TreeFixtures.Canonical(tree), await ReadBackAsync(Path.Combine(dir, "a.fl"), new BlockStoreRoute(0, 255, store)));
            var again = new CountingStore(store);
            Pack(Path.Combine(dir, "b.fl"), tree, new BlockStoreRoute(0, 255, again));
            Assert.Equal(0, again.Puts);
            Assert.Equal(counting.Puts, again.Exists);

            // Objects are lowercase hex ids at the bucket root.
            var id = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
            await store.PutAsync(id, "abc"u8.ToArray());
            using var http = new HttpClient();
            var anonymous = await http.GetAsync($"http://127.0.0.1:{s3.Port}/blocks/{Convert.ToHexStringLower(id)}");
            Assert.NotEqual(HttpStatusCode.NotFound, anonymous.StatusCode);
        }
        // s3rver 3 does not check V4 signatures (S3SignerTests checks the signer on AWS's own example), but it
        // refuses unknown access keys: the error is clear and carries no secret.
        await using var bad = BlockStore.Open($"s3://NOBODY:TOPSECRET@127.0.0.1:{s3.Port}/blocks");
        var e = await Assert.ThrowsAsync<BlockStoreException>(() => bad.PutAsync(new byte[32], "x"u8.ToArray()));
        Assert.Contains("403", e.Message);
        Assert.DoesNotContain("TOPSECRET", e.ToString());
    }

    [Fact]
    public void S3Signer_ReproducesAwsGetObjectExample()
    {
        // https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html, "Example: GET Object".
        var signer = new S3Signer("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "us-east-1");
        string canonical = "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n" +
                           "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n" +
                           "x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n" +
                           "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        Assert.Equal("f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41", signer.Signature(canonical, "20130524T000000Z"));
        Assert.Equal(
            "PUT\n/b/ab\n\nhost:h:9000\nx-amz-content-sha256:X\nx-amz-date:20130524T000000Z\n\nhost;x-amz-content-sha256;x-amz-date\nX",
            S3Signer.CanonicalRequest("PUT", "/b/ab", "h:9000", "X", "20130524T000000Z"));
    }

    [Fact]
    public async Task Http_ReadOnlyStore_ServesDirStoreOverHttp()
    {
        var dir = TestEnvironment.NewTempDir("rff-http");
        var tree = TreeFixtures.SampleTree(seed: 31);
        var fl = Path.Combine(dir, "a.fl");
        Pack(fl, tree, BlockStoreRoute.Parse($"dir://{dir}/store"));
        // Keep only the flat layout for half of the blocks: the http store must fall back from {hex[0..2]}/{hex} to {hex}.
        var flat = Directory.GetFiles(Path.Combine(dir, "store"));
        for (int i = 0; i < flat.Length; i += 2)
            File.Delete(Path.Combine(dir, "store", Path.GetFileName(flat[i])[..2], Path.GetFileName(flat[i])));

        // A real HTTP server (python's http.server) serving the store folder: what a web server in front of a dir store is.
        TestEnvironment.RequireTool("python3");
        using var server = ServerProcess.Start("python3", port => ["-m", "http.server", port.ToString(), "--bind", "127.0.0.1",
            "--directory", dir]);
        int port = server.Port;
        await using (var http = BlockStore.Open($"http://127.0.0.1:{port}/store"))
        {
            Assert.True(http.IsReadOnly);
            Assert.Equal(TreeFixtures.Canonical(tree), await ReadBackAsync(fl, new BlockStoreRoute(0, 255, http)));
            await Assert.ThrowsAsync<BlockStoreException>(() => http.PutAsync(new byte[32], new byte[1]));
            Assert.Throws<ArgumentException>(() => new RootfsForge.Sinks.Flist.FlistSink(Path.Combine(dir, "b.fl"),
                new RootfsForge.Sinks.Flist.FlistSinkOptions { Stores = [new BlockStoreRoute(0, 255, http)] }));
        }
    }
}
