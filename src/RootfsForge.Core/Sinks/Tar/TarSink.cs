using RootfsForge.IO;
using RootfsForge.Tar;
using RootfsForge.Tree;

namespace RootfsForge.Sinks.Tar;

/// <summary>
/// Writes a tree as a deterministic POSIX pax tar archive (docs/tar-output.md), plain or compressed, to a stream or to a
/// file that appears only when complete. Sockets are skipped and counted; symlink targets end at their first NUL, as the
/// kernel reads them (an empty target is kept, with a warning).
/// </summary>
public sealed class TarSink : TreeSink
{
    private const int OutputBufferSize = 1 << 20;

    private readonly AtomicFile? _file;
    private readonly Stream _destination;
    private readonly bool _leaveOpen;
    private readonly Stream? _compressor;
    private readonly BufferedStream _out;
    private readonly PaxTarWriter _writer;
    private bool _completed;
    private bool _failed;

    /// <summary>Writes the archive to <paramref name="output"/> (compressed per <paramref name="options"/>).</summary>
    /// <param name="output">The destination; written sequentially.</param>
    /// <param name="options">Options; <c>null</c> for defaults (uncompressed).</param>
    /// <param name="leaveOpen">Leave <paramref name="output"/> open after <see cref="CompleteAsync"/> or disposal.</param>
    public TarSink(Stream output, TarSinkOptions? options = null, bool leaveOpen = false)
        : this(output, options, leaveOpen, null)
    {
    }

    /// <summary>A tar sink counting into <paramref name="counters"/> (those of a sink that wraps it).</summary>
    internal TarSink(Stream output, TarSinkOptions? options, bool leaveOpen, SinkCounters? counters)
        : base(counters)
    {
        ArgumentNullException.ThrowIfNull(output);
        options ??= new TarSinkOptions();
        _destination = output;
        _leaveOpen = leaveOpen;
        int threads = Math.Max(1, options.CompressionThreads ?? Environment.ProcessorCount);
        switch (options.Compression)
        {
            case TarCompression.Gzip:
                _compressor = new ParallelGzipStream(output, options.CompressionLevel ?? 6, threads, leaveOpen: true);
                break;
            case TarCompression.Zstd:
                var z = new ZstdSharp.CompressionStream(output, options.CompressionLevel ?? 3, OutputBufferSize, leaveOpen: true);
                // Always at least one worker: compression then runs off the walking thread, and zstd's multi-threaded
                // output does not depend on the worker count, so archives are identical on any machine.
                z.SetParameter(ZstdSharp.Unsafe.ZSTD_cParameter.ZSTD_c_nbWorkers, threads);
                _compressor = z;
                break;
        }
        _out = new BufferedStream(_compressor ?? output, OutputBufferSize);
        _writer = new PaxTarWriter(_out, options.MtimeClamp, Counters);
    }

    private TarSink(AtomicFile file, TarSinkOptions? options)
        : this(file.Stream, options, leaveOpen: true, null)
    {
        _file = file;
    }

    /// <summary>
    /// Writes the archive to the file <paramref name="path"/> through a temporary name; the file appears only when
    /// <see cref="CompleteAsync"/> succeeds.
    /// </summary>
    public static TarSink CreateFile(string path, TarSinkOptions? options = null)
    {
        var file = new AtomicFile(path);
        try
        {
            return new TarSink(file, options);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public override async ValueTask AddAsync(TreeEntry entry, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ObjectDisposedException.ThrowIf(_completed, this);
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            await _writer.WriteEntryAsync(entry, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            _failed = true;
            throw;
        }
    }

    /// <inheritdoc />
    public override async ValueTask CompleteAsync(CancellationToken cancellationToken = default)
    {
        if (_completed) return;
        if (_failed) throw new InvalidOperationException("the tar sink failed earlier; its output was discarded");
        cancellationToken.ThrowIfCancellationRequested();
        await _writer.FinishAsync(cancellationToken).ConfigureAwait(false);
        await _out.FlushAsync(cancellationToken).ConfigureAwait(false);
        switch (_compressor)
        {
            case ParallelGzipStream gz:
                await gz.FinishAsync(cancellationToken).ConfigureAwait(false);
                break;
            case not null:
                await _compressor.DisposeAsync().ConfigureAwait(false);
                break;
        }
        if (_file is not null)
        {
            // The fsync can take seconds: an interrupt during it must still abort instead of keeping the output.
            _file.Flush();
            cancellationToken.ThrowIfCancellationRequested();
            _file.Commit();
            _file.Dispose();
        }
        else
        {
            await _destination.FlushAsync(cancellationToken).ConfigureAwait(false);
            if (!_leaveOpen) await _destination.DisposeAsync().ConfigureAwait(false);
        }
        _completed = true;
    }

    /// <inheritdoc />
    protected override async ValueTask DisposeAsyncCore()
    {
        if (_completed) return;
        _completed = true;
        _writer.ReturnBuffer();
        try
        {
            if (_compressor is not null) await _compressor.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or ObjectDisposedException)
        {
        }
        _file?.Dispose();
        if (_file is null && !_leaveOpen) await _destination.DisposeAsync().ConfigureAwait(false);
    }
}
