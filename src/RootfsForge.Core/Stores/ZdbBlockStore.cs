using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace RootfsForge.Stores;

/// <summary>
/// <c>zdb://[user[:password]@]host[:port][/namespace]</c> (default port 9900; no host = Unix socket path): 0-db in user
/// mode, raw 32-byte id keys (docs/flist-format.md §6). Each connection sends <c>SELECT ns [password]</c> first
/// (skipped for an absent or
/// <c>default</c> namespace; the password goes only there, there is no AUTH), then <c>EXISTS</c>/<c>SET</c>/<c>GET</c>.
/// 0-db answers <c>SET</c> with the key as a bulk string, Redis with <c>+OK</c>: both are success.
/// </summary>
internal sealed class ZdbBlockStore : IBlockStore
{
    public const int DefaultPort = 9900;
    private const int MaxConnections = 8;
    private const int MaxAttempts = 4;
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);

    private readonly EndPoint _endPoint;
    private readonly string? _namespace;
    private readonly string? _password;
    private readonly ConcurrentBag<RespConnection> _idle = [];
    private readonly SemaphoreSlim _slots = new(MaxConnections);

    private ZdbBlockStore(EndPoint endPoint, string? ns, string? password, string url)
    {
        _endPoint = endPoint;
        _namespace = ns;
        _password = password;
        Url = url;
    }

    public string Url { get; }

    public bool IsReadOnly => false;

    public static ZdbBlockStore Open(string url)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri))
            throw new ArgumentException($"bad zdb URL '{StoreUrl.Redact(url)}'");
        var (_, password) = StoreUrl.UserInfo(uri);
        string? ns = null;
        EndPoint ep;
        if (string.IsNullOrEmpty(uri.Host))
        {
            ep = new UnixDomainSocketEndPoint(Uri.UnescapeDataString(uri.AbsolutePath));
        }
        else
        {
            int port = uri.IsDefaultPort || uri.Port <= 0 ? DefaultPort : uri.Port;
            ep = IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) ? new IPEndPoint(ip, port) : new DnsEndPoint(uri.Host, port);
            string path = Uri.UnescapeDataString(uri.AbsolutePath).Trim('/');
            if (path.Length > 0) ns = path;
        }
        return new ZdbBlockStore(ep, ns, password, StoreUrl.Redact(url));
    }

    /// <summary>The SELECT command sent on every new connection, or null when none is needed.</summary>
    internal ReadOnlyMemory<byte>[]? SelectCommand()
    {
        if (_namespace is null || _namespace == "default") return null;
        var args = new List<ReadOnlyMemory<byte>> { "SELECT"u8.ToArray(), Encoding.UTF8.GetBytes(_namespace) };
        if (!string.IsNullOrEmpty(_password)) args.Add(Encoding.UTF8.GetBytes(_password));
        return args.ToArray();
    }

    public async Task<bool> ExistsAsync(ReadOnlyMemory<byte> id, CancellationToken cancellationToken = default)
    {
        var reply = await CallAsync("EXISTS", id, cancellationToken, "EXISTS"u8.ToArray(), id).ConfigureAwait(false);
        return reply.Kind == ':' && reply.Integer > 0;
    }

    public async Task PutAsync(ReadOnlyMemory<byte> id, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        // SET's reply: "+OK" (Redis) or the key as a bulk string (0-db 2.x); any non-error reply is success.
        await CallAsync("SET", id, cancellationToken, "SET"u8.ToArray(), id, data).ConfigureAwait(false);
    }

    public async Task<byte[]?> GetAsync(ReadOnlyMemory<byte> id, CancellationToken cancellationToken = default)
    {
        var reply = await CallAsync("GET", id, cancellationToken, "GET"u8.ToArray(), id).ConfigureAwait(false);
        if (reply.Kind != '$') throw new BlockStoreException($"{Url}: GET answered '{reply.Kind}' instead of a bulk string");
        if (reply.Bulk is null) return null;
        if (reply.Bulk.Length == 0)
            throw new BlockStoreException($"{Url}: block {Convert.ToHexStringLower(id.Span)} has an empty value");
        return reply.Bulk;
    }

    private async Task<RespReply> CallAsync(string what, ReadOnlyMemory<byte> id, CancellationToken ct,
        params ReadOnlyMemory<byte>[] args)
    {
        await _slots.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            for (int attempt = 1; ; attempt++)
            {
                RespConnection? conn = null;
                try
                {
                    conn = _idle.TryTake(out var c) ? c : await ConnectAsync(ct).ConfigureAwait(false);
                    var reply = await conn.CallAsync(ct, args).ConfigureAwait(false);
                    _idle.Add(conn);
                    conn = null;
                    if (reply.IsError)
                        throw new BlockStoreException(
                            $"{Url}: {what} {Convert.ToHexStringLower(id.Span)} failed: {Scrub(reply.Text ?? "")}");
                    return reply;
                }
                catch (Exception e) when (IsTransient(e) && attempt < MaxAttempts && !ct.IsCancellationRequested)
                {
                    if (conn is not null) await conn.DisposeAsync().ConfigureAwait(false);
                    await Task.Delay(TimeSpan.FromMilliseconds(100 * (1 << (attempt - 1))), ct).ConfigureAwait(false);
                }
                catch (Exception e) when (IsTransient(e))
                {
                    if (conn is not null) await conn.DisposeAsync().ConfigureAwait(false);
                    throw new BlockStoreException(
                        $"{Url}: {what} failed after {attempt} attempts: {Scrub(e.Message)}", e);
                }
                catch
                {
                    if (conn is not null) await conn.DisposeAsync().ConfigureAwait(false);
                    throw;
                }
            }
        }
        finally
        {
            _slots.Release();
        }
    }

    private static bool IsTransient(Exception e) => e is IOException and not BlockStoreException
        or SocketException or TimeoutException;

    private string Scrub(string text) => StoreUrl.Scrub(text, _password);

    private async Task<RespConnection> ConnectAsync(CancellationToken ct)
    {
        var conn = await RespConnection.ConnectAsync(_endPoint, ConnectTimeout, ct).ConfigureAwait(false);
        var select = SelectCommand();
        if (select is null) return conn;
        try
        {
            var reply = await conn.CallAsync(ct, select).ConfigureAwait(false);
            if (reply.IsError)
                throw new BlockStoreException($"{Url}: SELECT {_namespace} refused: {Scrub(reply.Text ?? "")}");
            return conn;
        }
        catch
        {
            await conn.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        while (_idle.TryTake(out var c)) await c.DisposeAsync().ConfigureAwait(false);
    }
}
