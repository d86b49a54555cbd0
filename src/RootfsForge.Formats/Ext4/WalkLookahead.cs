using System.Runtime.ExceptionServices;
using RootfsForge.Tree;

namespace RootfsForge.Ext4;

/// <summary>
/// Runs a walk on its own thread, a bounded window ahead of its consumer (docs/disk-formats.md §3.14): at most
/// <see cref="WindowBytes"/> of file content and <see cref="WindowEntries"/> entries. Once the consumer opens content,
/// the walk also hints the device to decode the content of the entries it holds, so reading metadata, decompressing the
/// next files and the consumer writing this one overlap. The walk thread blocks for room; the consumer waits
/// asynchronously. Disposing stops the walk and waits for its thread.
/// </summary>
internal sealed class WalkLookahead : IAsyncDisposable
{
    /// <summary>How much file content the walk holds ahead of its consumer.</summary>
    internal const long WindowBytes = 16L << 20;

    /// <summary>The most entries the walk holds ahead of its consumer.</summary>
    internal const int WindowEntries = 1024;

    private readonly IEnumerable<(TreeEntry Entry, ContentOpener? Content)> _walk;
    private readonly Func<bool> _contentOpened;
    private readonly Queue<(TreeEntry Entry, ContentOpener? Content, long Bytes)> _queue = new();
    private readonly object _lock = new(); // Monitor.Wait needs a monitor, not a System.Threading.Lock
    /// <summary>One count per queued entry, plus one when the walk has ended: what the consumer awaits.</summary>
    private readonly SemaphoreSlim _ready = new(0);
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Thread _thread;
    private long _queuedBytes;
    private bool _walkWaiting;
    private bool _stopped;
    private bool _prefetching;
    private ExceptionDispatchInfo? _failure;

    /// <param name="walk">The walk, enumerated on the new thread; each regular file with its content opener.</param>
    /// <param name="contentOpened">True once the consumer opened any content (prefetching starts then).</param>
    public WalkLookahead(IEnumerable<(TreeEntry Entry, ContentOpener? Content)> walk, Func<bool> contentOpened)
    {
        _walk = walk;
        _contentOpened = contentOpened;
        _thread = new Thread(Run) { IsBackground = true, Name = "ext4 walk" };
        _thread.Start();
    }

    /// <summary>The next entry in walk order; null at the end. Rethrows the walk's error after the entries before it.</summary>
    /// <exception cref="OperationCanceledException">Cancelled: at once, whether entries are queued or not.</exception>
    public async ValueTask<TreeEntry?> TakeAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        await _ready.WaitAsync(cancellationToken).ConfigureAwait(false);
        lock (_lock)
        {
            if (_queue.TryDequeue(out var item))
            {
                _queuedBytes -= item.Bytes;
                if (_walkWaiting) Monitor.Pulse(_lock);
                return item.Entry;
            }
        }
        // Every entry was released before the final count: an empty queue here means the walk has ended.
        _failure?.Throw();
        return null;
    }

    private void Run()
    {
        try
        {
            foreach (var (entry, content) in _walk)
            {
                long bytes = content?.ContentBytes(WindowBytes) ?? 0;
                lock (_lock)
                {
                    // Wait for room; a single entry larger than the window still goes through an empty queue.
                    while (!_stopped && _queue.Count > 0 && (_queue.Count >= WindowEntries || _queuedBytes + bytes > WindowBytes))
                    {
                        _walkWaiting = true;
                        Monitor.Wait(_lock);
                        _walkWaiting = false;
                    }
                    if (_stopped) return;
                }
                if (!_prefetching && _contentOpened()) StartPrefetching();
                if (_prefetching) content?.Prefetch(WindowBytes);
                lock (_lock)
                {
                    _queue.Enqueue((entry, content, bytes));
                    _queuedBytes += bytes;
                }
                _ready.Release();
            }
        }
        catch (Exception e)
        {
            _failure = ExceptionDispatchInfo.Capture(e);
        }
        finally
        {
            _ready.Release();
            _exited.TrySetResult();
        }
    }

    /// <summary>The consumer reads contents: hint the device about the content of everything queued so far.</summary>
    private void StartPrefetching()
    {
        _prefetching = true;
        ContentOpener?[] queued;
        lock (_lock)
        {
            queued = new ContentOpener?[_queue.Count];
            int i = 0;
            foreach (var item in _queue) queued[i++] = item.Content;
        }
        foreach (var content in queued) content?.Prefetch(WindowBytes);
    }

    /// <summary>Stops the walk and waits for its thread to end.</summary>
    public async ValueTask DisposeAsync()
    {
        lock (_lock)
        {
            _stopped = true;
            Monitor.PulseAll(_lock);
        }
        await _exited.Task.ConfigureAwait(false);
        _thread.Join(); // returns at once: the thread has left its last statement
        _ready.Dispose();
    }
}
