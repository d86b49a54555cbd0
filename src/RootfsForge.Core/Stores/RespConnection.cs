using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace RootfsForge.Stores;

/// <summary>One reply of the RESP protocol (0-db and Redis speak the same wire format).</summary>
internal readonly record struct RespReply(char Kind, long Integer, byte[]? Bulk, string? Text)
{
    public bool IsError => Kind == '-';
}

/// <summary>A TCP (or Unix socket) connection speaking RESP: commands as arrays of bulk strings, replies parsed.</summary>
internal sealed class RespConnection : IAsyncDisposable
{
    /// <summary>Largest bulk reply accepted: an encrypted 512 KiB block that did not compress, with margin.</summary>
    private const int MaxBulkLength = 8 * 1024 * 1024;

    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly byte[] _readBuffer = new byte[64 * 1024];
    private int _readStart, _readEnd;

    private RespConnection(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
    }

    public static async Task<RespConnection> ConnectAsync(EndPoint endPoint, TimeSpan timeout, CancellationToken ct)
    {
        var socket = endPoint is UnixDomainSocketEndPoint
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            await socket.ConnectAsync(endPoint, cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            socket.Dispose();
            throw new TimeoutException("connect timed out");
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return new RespConnection(socket);
    }

    /// <summary>Encodes one command (<c>*n</c> then <c>$len</c> bulk strings) into <paramref name="writer"/>.</summary>
    public static void Encode(IBufferWriter<byte> writer, params ReadOnlySpan<ReadOnlyMemory<byte>> args)
    {
        WriteLine(writer, '*', args.Length);
        foreach (var a in args)
        {
            WriteLine(writer, '$', a.Length);
            writer.Write(a.Span);
            writer.Write("\r\n"u8);
        }
    }

    private static void WriteLine(IBufferWriter<byte> writer, char prefix, long n)
    {
        writer.Write([(byte)prefix]);
        writer.Write(Encoding.ASCII.GetBytes(n.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        writer.Write("\r\n"u8);
    }

    /// <summary>Sends one command and reads its reply.</summary>
    public async Task<RespReply> CallAsync(CancellationToken ct, params ReadOnlyMemory<byte>[] args)
    {
        var buffer = new ArrayBufferWriter<byte>(256 + args.Sum(a => a.Length));
        Encode(buffer, args);
        await _stream.WriteAsync(buffer.WrittenMemory, ct).ConfigureAwait(false);
        return await ReadReplyAsync(ct).ConfigureAwait(false);
    }

    private async Task<RespReply> ReadReplyAsync(CancellationToken ct)
    {
        string line = await ReadLineAsync(ct).ConfigureAwait(false);
        if (line.Length == 0) throw new IOException("empty RESP reply line");
        char kind = line[0];
        string rest = line[1..];
        switch (kind)
        {
            case '+':
            case '-':
                return new RespReply(kind, 0, null, rest);
            case ':':
                return new RespReply(kind, long.Parse(rest, System.Globalization.CultureInfo.InvariantCulture), null, null);
            case '$':
                long len = long.Parse(rest, System.Globalization.CultureInfo.InvariantCulture);
                if (len < 0) return new RespReply(kind, -1, null, null);
                if (len > MaxBulkLength) throw new IOException($"RESP bulk reply of {len} bytes is too large");
                var data = new byte[len];
                await ReadExactAsync(data, ct).ConfigureAwait(false);
                var crlf = new byte[2];
                await ReadExactAsync(crlf, ct).ConfigureAwait(false);
                if (crlf[0] != '\r' || crlf[1] != '\n') throw new IOException("RESP bulk reply not terminated by CRLF");
                return new RespReply(kind, len, data, null);
            default:
                throw new IOException($"unexpected RESP reply type '{kind}'");
        }
    }

    private async Task<string> ReadLineAsync(CancellationToken ct)
    {
        var sb = new StringBuilder();
        while (true)
        {
            if (_readStart == _readEnd) await FillAsync(ct).ConfigureAwait(false);
            byte b = _readBuffer[_readStart++];
            if (b == '\n' && sb.Length > 0 && sb[^1] == '\r') return sb.ToString(0, sb.Length - 1);
            if (sb.Length > 4096) throw new IOException("RESP reply line too long");
            sb.Append((char)b);
        }
    }

    private async Task ReadExactAsync(Memory<byte> destination, CancellationToken ct)
    {
        int done = 0;
        while (done < destination.Length)
        {
            if (_readStart == _readEnd) await FillAsync(ct).ConfigureAwait(false);
            int n = Math.Min(_readEnd - _readStart, destination.Length - done);
            _readBuffer.AsMemory(_readStart, n).CopyTo(destination[done..]);
            _readStart += n;
            done += n;
        }
    }

    private async Task FillAsync(CancellationToken ct)
    {
        _readStart = 0;
        _readEnd = await _stream.ReadAsync(_readBuffer, ct).ConfigureAwait(false);
        if (_readEnd == 0) throw new IOException("connection closed by the server");
    }

    public async ValueTask DisposeAsync() => await _stream.DisposeAsync().ConfigureAwait(false);
}
