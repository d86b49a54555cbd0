using System.IO.Pipelines;
using RootfsForge.Hub;
using RootfsForge.Sinks.Tar;
using RootfsForge.Tree;

namespace RootfsForge.Sinks.Hub;

/// <summary>
/// Streams a tree as a deterministic tar.gz straight into a 0-hub upload (<c>-o hub:NAME</c>): no temporary file, the
/// gzip output is sent (chunked: its length is not known beforehand) while the tree is still being read.
/// <see cref="CompleteAsync"/> waits for the hub's answer, its conversion job and the flist to be downloadable
/// (<see cref="HubClient.PushAsync"/>, docs/flist-format.md §9).
/// Disposing without completing aborts the request mid-body, so the hub never sees a complete archive.
/// </summary>
/// <remarks>The tar writer inside counts into this sink's <see cref="TreeSink.Statistics"/>, so progress is live.</remarks>
public sealed class HubSink : TreeSink
{
    private readonly Pipe _pipe = new(new PipeOptions(pauseWriterThreshold: 4 << 20, resumeWriterThreshold: 2 << 20));
    private readonly CancellationTokenSource _cts = new();
    private readonly Task<HubUploadResult> _upload;
    private readonly TarSink _tar;
    private bool _completed;

    /// <summary>Starts the upload of <c>{name}.tar.gz</c> through <paramref name="client"/>.</summary>
    /// <param name="client">The hub client (owned by the caller).</param>
    /// <param name="name">The flist name (the hub makes <c>{name}.flist</c>).</param>
    /// <param name="options">Tar options; compression is always gzip (the hub takes only tar.gz).</param>
    public HubSink(HubClient client, string name, TarSinkOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        _upload = UploadAsync(client, name);
        _tar = new TarSink(_pipe.Writer.AsStream(), (options ?? new TarSinkOptions()) with { Compression = TarCompression.Gzip },
            leaveOpen: false, Counters);
    }

    /// <summary>The hub's answer, once <see cref="CompleteAsync"/> succeeded.</summary>
    public HubUploadResult? Result { get; private set; }

    private async Task<HubUploadResult> UploadAsync(HubClient client, string name)
    {
        await Task.Yield(); // the request runs beside the tree writer
        try
        {
            return await client.PushAsync(_pipe.Reader.AsStream(), name, progress: null, _cts.Token).ConfigureAwait(false);
        }
        finally
        {
            // Unblock the tar writer if the upload ended early (refused, failed).
            await _pipe.Reader.CompleteAsync().ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public override async ValueTask AddAsync(TreeEntry entry, CancellationToken cancellationToken = default)
    {
        await ThrowIfUploadEndedAsync().ConfigureAwait(false);
        try
        {
            await _tar.AddAsync(entry, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException && _upload.IsCompleted)
        {
            await ThrowIfUploadEndedAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <inheritdoc />
    public override async ValueTask CompleteAsync(CancellationToken cancellationToken = default)
    {
        await ThrowIfUploadEndedAsync().ConfigureAwait(false);
        await _tar.CompleteAsync(cancellationToken).ConfigureAwait(false);
        await _pipe.Writer.CompleteAsync().ConfigureAwait(false);
        using (cancellationToken.Register(static cts => ((CancellationTokenSource)cts!).Cancel(), _cts))
            Result = await _upload.ConfigureAwait(false);
        _completed = true;
    }

    private async ValueTask ThrowIfUploadEndedAsync()
    {
        if (!_upload.IsCompleted) return;
        await _upload.ConfigureAwait(false); // rethrows the upload's failure
        throw new HubException("the hub ended the upload before the archive was complete");
    }

    /// <inheritdoc />
    protected override async ValueTask DisposeAsyncCore()
    {
        if (!_completed)
        {
            await _cts.CancelAsync().ConfigureAwait(false);
            await _pipe.Writer.CompleteAsync(new OperationCanceledException("output aborted")).ConfigureAwait(false);
            try
            {
                await _upload.WaitAsync(TimeSpan.FromSeconds(30)).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or HubException or IOException or TimeoutException
                                          or HttpRequestException)
            {
            }
        }
        await _tar.DisposeAsync().ConfigureAwait(false);
        _cts.Dispose();
    }
}
