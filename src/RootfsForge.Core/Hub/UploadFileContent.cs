using System.Buffers;
using System.Net;

namespace RootfsForge.Hub;

/// <summary>
/// The multipart <c>file</c> part of an upload. With a known length it reports it, so the whole multipart body gets a
/// <c>Content-Length</c> (what <c>curl -F</c> sends; some proxies in front of hubs refuse chunked uploads); without
/// one (a stream being produced, e.g. <c>-o hub:NAME</c>) the request is sent chunked (docs/flist-format.md §9).
/// Counts what it read, to know whether a failed request can be replayed. Does not own the source stream.
/// </summary>
internal sealed class UploadFileContent(Stream source, long? declaredLength) : HttpContent
{
    private const int BufferSize = 81920;

    /// <summary>Bytes read from the source so far.</summary>
    public long BytesRead { get; private set; }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            long sent = 0;
            int n;
            while ((n = await source.ReadAsync(buffer.AsMemory(0, BufferSize), cancellationToken).ConfigureAwait(false)) > 0)
            {
                BytesRead += n;
                if (declaredLength is { } declared && sent + n > declared)
                    throw new IOException($"the file grew while it was being uploaded (more than the {declared} bytes announced)");
                await stream.WriteAsync(buffer.AsMemory(0, n), cancellationToken).ConfigureAwait(false);
                sent += n;
            }
            if (declaredLength is { } expected && sent != expected)
                throw new IOException($"the file shrank while it was being uploaded ({sent} of the {expected} bytes announced)");
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    protected override bool TryComputeLength(out long length)
    {
        length = declaredLength ?? 0;
        return declaredLength.HasValue;
    }
}
