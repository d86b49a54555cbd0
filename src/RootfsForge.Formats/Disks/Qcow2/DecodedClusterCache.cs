using System.Buffers;
using System.Runtime.ExceptionServices;

namespace RootfsForge.Disks.Qcow2;

/// <summary>
/// A bounded, thread-safe LRU cache of decompressed clusters, keyed by the compressed cluster's host offset. Buffers are
/// recycled through the cache's own free list (never more than the byte budget allocated): the shared
/// <see cref="ArrayPool{T}"/> keeps only a few arrays per size, so a cache of hundreds of clusters churning through it
/// allocated a fresh cluster buffer for most decodes. Background decoding
/// (<see cref="TrySchedule"/>) goes through a queue bounded to half the byte budget, drained by at most
/// <c>maxInFlight</c> thread-pool workers; it never blocks a reader: a reader that needs a cluster still queued decodes
/// it itself.
/// </summary>
internal sealed class DecodedClusterCache : IDisposable
{
    /// <summary>Decodes the cluster described by an L2 entry into the buffer (at least one cluster long).</summary>
    public delegate void Decoder(ulong descriptor, byte[] destination);

    private enum State { Queued, Running, Done }

    private sealed class Entry(long key, ulong descriptor)
    {
        public readonly long Key = key;
        public readonly ulong Descriptor = descriptor;
        public State State;
        public byte[]? Buffer;
        public int Refs;
        public bool Removed;
        public bool Read; // a reader has used it; until then it is a prefetched cluster still ahead of the readers
        public Exception? Error;
        public ManualResetEventSlim? Done;
        public LinkedListNode<Entry>? Node;
    }

    private readonly object _lock = new();
    private readonly Dictionary<long, Entry> _map = [];
    private readonly LinkedList<Entry> _lru = new(); // most recently used first
    private readonly int _clusterSize;
    private readonly long _budget;
    private readonly int _maxInFlight;
    private readonly int _maxQueued;
    private readonly Queue<Entry> _queue = new();
    private readonly Stack<byte[]> _free = new();
    private readonly Decoder _decode;
    private long _bytes;
    private int _workers;
    private bool _disposed;

    public DecodedClusterCache(int clusterSize, long budgetBytes, int maxInFlight, Decoder decode)
    {
        _clusterSize = clusterSize;
        // Keep room for at least a few clusters, whatever the configured budget.
        _budget = Math.Max(budgetBytes, 4L * clusterSize);
        _maxInFlight = Math.Max(1, maxInFlight);
        _maxQueued = (int)Math.Max(1, _budget / 2 / clusterSize);
        _decode = decode;
    }

    /// <summary>A decoded cluster held for reading; dispose it to let the cache recycle the buffer.</summary>
    public readonly struct Lease(DecodedClusterCache owner, object entry) : IDisposable
    {
        public ReadOnlySpan<byte> Span => ((Entry)entry).Buffer.AsSpan(0, owner._clusterSize);
        public void Dispose() => owner.Release((Entry)entry);
    }

    /// <summary>Returns the decoded cluster, decoding it on this thread unless another thread already is.</summary>
    public Lease Get(long key, ulong descriptor)
    {
        Entry e;
        bool decodeHere = false;
        ManualResetEventSlim? wait = null;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_map.TryGetValue(key, out var found))
            {
                e = found;
                e.Refs++;
                e.Read = true;
                Touch(e);
                if (e.State == State.Queued)
                {
                    e.State = State.Running; // take it over from the queued worker
                    decodeHere = true;
                }
                else if (e.State == State.Running)
                {
                    wait = e.Done ??= new ManualResetEventSlim(false);
                }
            }
            else
            {
                e = Insert(key, descriptor);
                e.Refs = 1;
                e.Read = true;
                e.State = State.Running;
                decodeHere = true;
            }
        }

        if (decodeHere) Decode(e);
        else wait?.Wait();

        if (e.Error is { } error)
        {
            Release(e);
            ExceptionDispatchInfo.Throw(error);
        }
        return new Lease(this, e);
    }

    /// <summary>
    /// Queues background decoding of a cluster. Returns false when the queue or the byte budget is full (the caller
    /// should stop scheduling); true when queued or already cached.
    /// </summary>
    public bool TrySchedule(long key, ulong descriptor)
    {
        bool startWorker = false;
        lock (_lock)
        {
            if (_disposed) return false;
            if (_map.ContainsKey(key)) return true;
            if (_queue.Count >= _maxQueued) return false;
            // Prefetching only ever replaces clusters readers are done with, never prefetched ones not yet read: a
            // read-ahead larger than the budget then stops instead of evicting the clusters it is about to need.
            if (_bytes + _clusterSize > _budget && !EvictOne(readOnly: true)) return false;
            var e = Insert(key, descriptor);
            e.Refs = 1; // held by the queue until a worker has handled it
            e.State = State.Queued;
            _queue.Enqueue(e);
            if (_workers < _maxInFlight)
            {
                _workers++;
                startWorker = true;
            }
        }
        if (startWorker) ThreadPool.UnsafeQueueUserWorkItem(static c => c.DrainQueue(), this, preferLocal: false);
        return true;
    }

    /// <summary>A worker: decodes queued clusters until the queue is empty.</summary>
    private void DrainQueue()
    {
        while (true)
        {
            Entry e;
            bool run;
            lock (_lock)
            {
                if (_queue.Count == 0 || _disposed)
                {
                    _workers--;
                    return;
                }
                e = _queue.Dequeue();
                run = e.State == State.Queued; // a reader may have taken it over
                if (run) e.State = State.Running;
            }
            if (run) Decode(e);
            Release(e);
        }
    }

    private void Decode(Entry e)
    {
        byte[]? buffer = null;
        try
        {
            buffer = RentBuffer();
            _decode(e.Descriptor, buffer);
        }
        catch (Exception ex)
        {
            if (buffer is not null) lock (_lock) _free.Push(buffer);
            buffer = null;
            e.Error = ex;
        }
        ManualResetEventSlim? done;
        lock (_lock)
        {
            e.Buffer = buffer;
            e.State = State.Done;
            done = e.Done;
            if (e.Error is not null) Remove(e); // later readers retry and report the error themselves
        }
        done?.Set();
    }

    private Entry Insert(long key, ulong descriptor)
    {
        var e = new Entry(key, descriptor);
        e.Node = _lru.AddFirst(e);
        _map[key] = e;
        _bytes += _clusterSize;
        while (_bytes > _budget && (EvictOne(readOnly: true) || EvictOne(readOnly: false)))
        {
        }
        return e;
    }

    private void Touch(Entry e)
    {
        if (e.Node is { } node && node.List is not null && node != _lru.First)
        {
            _lru.Remove(node);
            _lru.AddFirst(node);
        }
    }

    /// <summary>
    /// Evicts the least recently used decoded cluster nobody holds (with <paramref name="readOnly"/>, only one a reader
    /// has used). Caller holds the lock.
    /// </summary>
    private bool EvictOne(bool readOnly)
    {
        for (var node = _lru.Last; node is not null; node = node.Previous)
        {
            var e = node.Value;
            if (e.Refs == 0 && e.State == State.Done && (e.Read || !readOnly))
            {
                Remove(e);
                return true;
            }
        }
        return false;
    }

    /// <summary>Drops an entry from the map and the LRU list; its buffer returns to the pool once unreferenced.</summary>
    private void Remove(Entry e)
    {
        if (e.Removed) return;
        e.Removed = true;
        if (_map.TryGetValue(e.Key, out var current) && ReferenceEquals(current, e)) _map.Remove(e.Key);
        if (e.Node?.List is not null) _lru.Remove(e.Node);
        _bytes -= _clusterSize;
        if (e.Refs == 0) ReturnBuffer(e);
    }

    private void Release(Entry e)
    {
        lock (_lock)
        {
            e.Refs--;
            if (e.Refs == 0 && e.Removed) ReturnBuffer(e);
        }
    }

    private byte[] RentBuffer()
    {
        lock (_lock)
        {
            if (_free.TryPop(out var b)) return b;
        }
        return GC.AllocateUninitializedArray<byte>(_clusterSize);
    }

    /// <summary>Puts an unreferenced entry's buffer on the free list. Caller holds the lock.</summary>
    private void ReturnBuffer(Entry e)
    {
        if (e.Buffer is { } b)
        {
            e.Buffer = null;
            // Live buffers never exceed the budget (plus those being decoded), so neither does the free list.
            if (!_disposed) _free.Push(b);
        }
        e.Done?.Dispose();
        e.Done = null;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            while (_queue.Count > 0)
            {
                var q = _queue.Dequeue();
                q.Refs--;
                if (q.State == State.Queued) q.State = State.Done; // never decoded; no buffer
            }
            foreach (var e in _map.Values.ToList())
                if (e.State == State.Done) Remove(e);
            _free.Clear();
        }
    }
}
