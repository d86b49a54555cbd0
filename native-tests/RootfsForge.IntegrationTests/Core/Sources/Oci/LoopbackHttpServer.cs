using System.Net;
using System.Net.Sockets;
using System.Text;

namespace RootfsForge.NativeTests.Oci;

/// <summary>One HTTP/1.1 request received by <see cref="LoopbackHttpServer"/>, and the means to answer it.</summary>
internal sealed class HttpExchange(string method, string target, IReadOnlyDictionary<string, string> headers, byte[] body, Stream connection)
{
    public string Method { get; } = method;

    /// <summary>The request target as sent (path and query).</summary>
    public string Target { get; } = target;

    public string Path => Target.Split('?')[0];

    public string Query => Target.Contains('?') ? Target[(Target.IndexOf('?') + 1)..] : "";

    public IReadOnlyDictionary<string, string> Headers { get; } = headers;

    public byte[] Body { get; } = body;

    public string? Header(string name) => Headers.TryGetValue(name, out var v) ? v : null;

    /// <summary>Writes a complete answer (always with Connection: close).</summary>
    public async Task RespondAsync(int status, byte[]? body = null, IEnumerable<KeyValuePair<string, string>>? headers = null, string? reason = null)
    {
        body ??= [];
        await WriteHeadAsync(status, body.Length, headers, reason);
        await connection.WriteAsync(body);
        await connection.FlushAsync();
    }

    /// <summary>Writes the status line and headers (with Content-Length); the body follows on <see cref="Connection"/>.</summary>
    public async Task WriteHeadAsync(int status, long contentLength, IEnumerable<KeyValuePair<string, string>>? headers = null, string? reason = null)
    {
        var sb = new StringBuilder();
        sb.Append($"HTTP/1.1 {status} {reason ?? ReasonPhrase(status)}\r\n");
        foreach (var (k, v) in headers ?? [])
        {
            if (k.Equals("Content-Length", StringComparison.OrdinalIgnoreCase) || k.Equals("Connection", StringComparison.OrdinalIgnoreCase)
                || k.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
                continue;
            sb.Append($"{k}: {v}\r\n");
        }
        sb.Append($"Content-Length: {contentLength}\r\nConnection: close\r\n\r\n");
        await connection.WriteAsync(Encoding.ASCII.GetBytes(sb.ToString()));
    }

    /// <summary>The raw connection, for writing a body after <see cref="WriteHeadAsync"/>.</summary>
    public Stream Connection => connection;

    private static string ReasonPhrase(int status) => status switch
    {
        200 => "OK", 206 => "Partial Content", 307 => "Temporary Redirect", 401 => "Unauthorized", 404 => "Not Found",
        416 => "Range Not Satisfiable", 429 => "Too Many Requests", 500 => "Internal Server Error", 503 => "Service Unavailable",
        _ => "Status",
    };
}

/// <summary>
/// A minimal HTTP/1.1 server on a free 127.0.0.1 port for tests (token issuer, fault proxy, blob store): one request per
/// connection, request bodies by Content-Length. Handlers see every request; the server stops on dispose.
/// </summary>
internal sealed class LoopbackHttpServer : IAsyncDisposable, IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Func<HttpExchange, Task> _handler;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;

    public LoopbackHttpServer(Func<HttpExchange, Task> handler)
    {
        _handler = handler;
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = AcceptLoopAsync();
    }

    public int Port { get; }

    public string Origin => $"http://127.0.0.1:{Port}";

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException)
            {
                return;
            }
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                var (method, target, headers) = await ReadHeadAsync(stream);
                if (method is null) return;
                byte[] body = [];
                if (headers.TryGetValue("Content-Length", out var len) && long.TryParse(len, out long n) && n > 0)
                {
                    body = new byte[n];
                    await stream.ReadExactlyAsync(body);
                }
                await _handler(new HttpExchange(method, target!, headers, body, stream));
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
            {
                // The client went away (or the test cut the connection on purpose).
            }
        }
    }

    private static async Task<(string? Method, string? Target, Dictionary<string, string> Headers)> ReadHeadAsync(Stream stream)
    {
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var raw = new List<byte>();
        var one = new byte[1];
        while (true)
        {
            if (await stream.ReadAsync(one) == 0) return (null, null, headers);
            if (raw.Count == 0 && one[0] == 0x16)
            {
                // A TLS ClientHello (an HTTPS probe): answer like Go's net/http does, so the client falls back at once.
                await stream.WriteAsync("HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTPS request to an HTTP server.\n"u8.ToArray());
                return (null, null, headers);
            }
            raw.Add(one[0]);
            int c = raw.Count;
            if (c >= 4 && raw[c - 4] == '\r' && raw[c - 3] == '\n' && raw[c - 2] == '\r' && raw[c - 1] == '\n') break;
            if (c > 64 << 10) return (null, null, headers);
        }
        var lines = Encoding.Latin1.GetString(raw.ToArray()).Split("\r\n");
        var parts = lines[0].Split(' ');
        foreach (var line in lines.Skip(1))
        {
            int colon = line.IndexOf(':');
            if (colon > 0) headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
        }
        return (parts[0], parts.Length > 1 ? parts[1] : "/", headers);
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        try
        {
            _accepting.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
        }
        _stop.Dispose();
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }
}
