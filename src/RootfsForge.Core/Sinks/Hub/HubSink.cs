using RootfsForge.Hub;
using System.IO.Pipelines;
using RootfsForge.Sinks.Tar;
using RootfsForge.Tree;

namespace RootfsForge.Sinks.Hub;

/// <summary>
/// Streams a tree as a deterministic tar.gz straight into a 0-hub upload (<c>-o hub:NAME</c>): no temporary file, the
/// gzip output is sent while the tree is still being read. <see cref="Complete"/> waits for the hub's answer.
/// Disposing without completing aborts the request mid-body, so the hub never sees a complete archive.
/// </summary>
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
        var body = _pipe.Reader.AsStream();
        _upload = Task.Run(async () =>
        {
            try
            {
                return await client.PushAsync(body, name, _cts.Token).ConfigureAwait(false);
            }
            finally
            {
                // Unblock the tar writer if the upload ended early (refused, failed).
                await _pipe.Reader.CompleteAsync().ConfigureAwait(false);
            }
        });
        _tar = new TarSink(_pipe.Writer.AsStream(), new TarSinkOptions
        {
            Compression = TarCompression.Gzip,
            MtimeClamp = options?.MtimeClamp,
            CompressionLevel = options?.CompressionLevel,
            CompressionThreads = options?.CompressionThreads,
        });
    }

    /// <summary>The hub's answer, once <see cref="Complete"/> succeeded.</summary>
    public HubUploadResult? Result { get; private set; }

    /// <inheritdoc />
    public override void Add(TreeEntry entry, CancellationToken cancellationToken = default)
    {
        ThrowIfUploadEnded();
        try
        {
            _tar.Add(entry, cancellationToken);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException && _upload.IsCompleted)
        {
            ThrowIfUploadEnded();
            throw;
        }
    }

    /// <inheritdoc />
    public override void Complete(CancellationToken cancellationToken = default)
    {
        ThrowIfUploadEnded();
        _tar.Complete(cancellationToken);
        _pipe.Writer.Complete();
        using (cancellationToken.Register(() => _cts.Cancel()))
        {
            Result = _upload.GetAwaiter().GetResult();
        }
        var t = _tar.Statistics;
        Statistics.Warnings.AddRange(t.Warnings);
        for (long i = 0; i < t.Entries; i++) Statistics.AddEntry();
        for (long i = 0; i < t.SkippedSockets; i++) Statistics.AddSkippedSocket();
        Statistics.AddContentBytes(t.ContentBytes);
        Statistics.AddDroppedAttributes(t.DroppedAttributes);
        _completed = true;
    }

    private void ThrowIfUploadEnded()
    {
        if (!_upload.IsCompleted) return;
        if (_upload.IsFaulted) _upload.GetAwaiter().GetResult();
        throw new HubException("the hub ended the upload before the archive was complete");
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (!disposing) return;
        if (!_completed)
        {
            _cts.Cancel();
            _pipe.Writer.Complete(new OperationCanceledException("output aborted"));
            try
            {
                _upload.Wait(TimeSpan.FromSeconds(30));
            }
            catch (AggregateException)
            {
            }
        }
        _tar.Dispose();
        _cts.Dispose();
    }
}
