using System.Runtime.ExceptionServices;
using RootfsForge.Tree;

namespace RootfsForge.Ext4;

public sealed partial class Ext4FileSystem
{
    /// <summary>How much file content the walk holds ahead of its consumer (see <see cref="WalkAsync"/>).</summary>
    internal const long LookaheadBytes = 16L << 20;

    /// <summary>The most entries the walk holds ahead of its consumer.</summary>
    internal const int LookaheadEntries = 1024;

    /// <summary>Set once any content of this filesystem was opened: from then on the walk prefetches content.</summary>
    private bool _contentOpened;

    /// <summary>
    /// Runs <see cref="WalkInOrder"/> on a dedicated thread into a queue bounded by <see cref="LookaheadEntries"/> and
    /// <see cref="LookaheadBytes"/> of content; the consumer takes entries in order. Disposing stops the walk thread and
    /// waits for it.
    /// </summary>
    private sealed class WalkAhead : IDisposable
    {
        private readonly Ext4FileSystem _fs;
        private readonly CancellationToken _cancellationToken;
        private readonly Queue<(TreeEntry Entry, ContentOpener? Content, long Bytes)> _queue = new();
        private readonly object _lock = new();
        private readonly Thread _thread;
        private long _queuedBytes;
        private bool _finished;
        private bool _stopped;
        private bool _prefetching;
        private ExceptionDispatchInfo? _failure;

        public WalkAhead(Ext4FileSystem fs, CancellationToken cancellationToken)
        {
            _fs = fs;
            _cancellationToken = cancellationToken;
            _thread = new Thread(Run) { IsBackground = true, Name = "ext4 walk" };
            _thread.Start();
        }

        /// <summary>The next entry in walk order; null at the end. Rethrows the walk's error after the entries before it.</summary>
        public TreeEntry? Take()
        {
            _cancellationToken.ThrowIfCancellationRequested(); // cancelling stops the consumer at once, queued entries or not
            lock (_lock)
            {
                while (_queue.Count == 0 && !_finished) Monitor.Wait(_lock);
                if (_queue.Count > 0)
                {
                    var (entry, _, bytes) = _queue.Dequeue();
                    _queuedBytes -= bytes;
                    Monitor.PulseAll(_lock);
                    return entry;
                }
            }
            _failure?.Throw();
            return null;
        }

        private void Run()
        {
            try
            {
                foreach (var (entry, content) in _fs.WalkInOrder(_cancellationToken))
                {
                    long bytes = content?.ContentBytes(LookaheadBytes) ?? 0;
                    lock (_lock)
                    {
                        // Wait for room; a single entry larger than the window still goes through an empty queue.
                        while (!_stopped && _queue.Count > 0
                               && (_queue.Count >= LookaheadEntries || _queuedBytes + bytes > LookaheadBytes))
                            Monitor.Wait(_lock);
                        if (_stopped) return;
                    }
                    if (!_prefetching && Volatile.Read(ref _fs._contentOpened)) StartPrefetching();
                    if (_prefetching) content?.Prefetch(LookaheadBytes);
                    lock (_lock)
                    {
                        _queue.Enqueue((entry, content, bytes));
                        _queuedBytes += bytes;
                        Monitor.PulseAll(_lock);
                    }
                }
            }
            catch (Exception e)
            {
                _failure = ExceptionDispatchInfo.Capture(e);
            }
            finally
            {
                lock (_lock)
                {
                    _finished = true;
                    Monitor.PulseAll(_lock);
                }
            }
        }

        /// <summary>The consumer reads contents: hint the device about the content of everything queued so far.</summary>
        private void StartPrefetching()
        {
            _prefetching = true;
            ContentOpener?[] queued;
            lock (_lock) queued = _queue.Select(q => q.Content).ToArray();
            foreach (var content in queued) content?.Prefetch(LookaheadBytes);
        }

        public void Dispose()
        {
            lock (_lock)
            {
                _stopped = true;
                Monitor.PulseAll(_lock);
            }
            if (Thread.CurrentThread != _thread) _thread.Join();
        }
    }
}
