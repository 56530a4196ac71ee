using System.Diagnostics;
using Fabrik.Inference;
using Fabrik.Observability.Metrics;
using Fabrik.Tensors;

namespace Fabrik.Caching;

/// <summary>
/// The server's response cache (Triton's local cache, <c>--cache-config local,size=N</c>): whole
/// responses under their request's key, evicted least-recently-used once their bytes would pass
/// the size. One per server, shared by the model versions that enable it; each key starts with
/// its model version's identity (<see cref="VersionResponseCache"/>), so versions never share entries.
/// </summary>
/// <remarks>
/// <para>Accounting: an entry takes its key's bytes plus its outputs' layout
/// (<see cref="ResponseLayout"/>), one array of exactly that length; the sum over the entries
/// never passes <see cref="SizeBytes"/>. A response whose entry would be larger than the cache is
/// not stored.</para>
/// <para>Locking: one lock guards the table, the recency list, the byte count and the counters.
/// A hit copies its outputs out while holding it, so no eviction can clear an entry as it is read;
/// entries are built (and their data copied in) before the lock is taken.</para>
/// <para>With <c>--clear-buffers</c> (the default) an entry's array is zeroed when it leaves the
/// cache: evicted, replaced, or dropped with its model version.</para>
/// </remarks>
/// <param name="sizeBytes">The most bytes the entries may take.</param>
/// <param name="clearRemoved">Zero an entry's array when it leaves the cache (--clear-buffers).</param>
/// <param name="allocateEntry">Makes an entry's array of the given length (tests watch the arrays
/// through it); by default an uninitialised managed array, which is written whole.</param>
internal sealed class ResponseCache(long sizeBytes, bool clearRemoved, Func<int, byte[]>? allocateEntry = null)
{
    private readonly Func<int, byte[]> _allocateEntry = allocateEntry ?? (length => GC.AllocateUninitializedArray<byte>(length));
    private readonly Lock _gate = new();
    private readonly Dictionary<UInt128, CacheEntry> _entries = [];
    private CacheEntry? _newest;
    private CacheEntry? _oldest;
    private long _usedBytes;
    private long _lookups;
    private long _hits;
    private long _misses;
    private long _evictions;
    private long _lookupTicks;
    private long _insertTicks;
    private long _generations;

    /// <summary>The most bytes the entries may take.</summary>
    public long SizeBytes { get; } = sizeBytes;

    /// <summary>A number no other model version loaded into this server gets: part of each
    /// version's key prefix, so a version reloaded from changed files never sees its
    /// predecessor's answers.</summary>
    public long NextGeneration() => Interlocked.Increment(ref _generations);

    public ResponseCacheCounters Counters
    {
        get
        {
            lock (_gate)
            {
                return new ResponseCacheCounters(_entries.Count, _lookups, _hits, _misses, _evictions,
                    Microseconds(_lookupTicks), Microseconds(_insertTicks), _usedBytes, SizeBytes);
            }
        }
    }

    /// <summary>The response stored under <paramref name="key"/>, copied into buffers rented from
    /// <paramref name="pool"/> (the caller owns it), or null on a miss.</summary>
    /// <exception cref="TensorPoolExhaustedException">The pool has no room for the copy.</exception>
    public InferenceResponse? TryGet(in CacheKey key, TensorMemoryPool pool)
    {
        var start = Stopwatch.GetTimestamp();
        lock (_gate)
        {
            try
            {
                _lookups++;
                if (_entries.TryGetValue(key.Hash, out var entry) && entry.Key.SequenceEqual(key.Bytes))
                {
                    var response = ResponseLayout.Read(entry.Outputs, pool);
                    _hits++;
                    MakeNewest(entry);
                    return response;
                }
                _misses++;
                return null;
            }
            finally
            {
                _lookupTicks += Stopwatch.GetTimestamp() - start;
            }
        }
    }

    /// <summary>Stores a copy of <paramref name="response"/> under <paramref name="key"/> for
    /// <paramref name="owner"/>, evicting the least recently used entries to make room. False
    /// when the entry would be larger than the cache. An entry already stored under the same key
    /// (another request that ran at the same time) is kept.</summary>
    public bool TryAdd(in CacheKey key, InferenceResponse response, object owner)
    {
        var start = Stopwatch.GetTimestamp();
        if (ResponseLayout.Size(response.Outputs) is not { } outputsSize)
        {
            return false;
        }
        var size = key.Length + outputsSize;
        if (size > SizeBytes || size > Array.MaxLength)
        {
            return false;
        }
        var data = _allocateEntry((int)size);
        key.Bytes.CopyTo(data);
        ResponseLayout.Write(data.AsSpan(key.Length), response.Outputs);
        var entry = new CacheEntry(key.Hash, data, key.Length, owner);
        lock (_gate)
        {
            try
            {
                if (_entries.TryGetValue(key.Hash, out var present))
                {
                    if (present.Key.SequenceEqual(key.Bytes))
                    {
                        MakeNewest(present);
                        Clear(entry);
                        return true;
                    }
                    // Another key with the same hash: the newer answer takes the slot.
                    Remove(present);
                }
                while (_usedBytes + size > SizeBytes)
                {
                    Remove(_oldest!);
                    _evictions++;
                }
                _entries.Add(entry.Hash, entry);
                _usedBytes += size;
                Link(entry);
                return true;
            }
            finally
            {
                _insertTicks += Stopwatch.GetTimestamp() - start;
            }
        }
    }

    /// <summary>Drops every entry <paramref name="owner"/> stored (its model version is unloaded).</summary>
    public void RemoveAll(object owner)
    {
        lock (_gate)
        {
            for (var entry = _oldest; entry is not null;)
            {
                var newer = entry.Newer;
                if (ReferenceEquals(entry.Owner, owner))
                {
                    Remove(entry);
                }
                entry = newer;
            }
        }
    }

    // The methods below run under _gate.

    private void Remove(CacheEntry entry)
    {
        _entries.Remove(entry.Hash);
        Unlink(entry);
        _usedBytes -= entry.Data.Length;
        Clear(entry);
    }

    private void Clear(CacheEntry entry)
    {
        if (clearRemoved)
        {
            Array.Clear(entry.Data);
        }
    }

    private void MakeNewest(CacheEntry entry)
    {
        if (!ReferenceEquals(entry, _newest))
        {
            Unlink(entry);
            Link(entry);
        }
    }

    private void Link(CacheEntry entry)
    {
        entry.Older = _newest;
        entry.Newer = null;
        if (_newest is not null)
        {
            _newest.Newer = entry;
        }
        _newest = entry;
        _oldest ??= entry;
    }

    private void Unlink(CacheEntry entry)
    {
        if (entry.Newer is null)
        {
            _newest = entry.Older;
        }
        else
        {
            entry.Newer.Older = entry.Older;
        }
        if (entry.Older is null)
        {
            _oldest = entry.Newer;
        }
        else
        {
            entry.Older.Newer = entry.Newer;
        }
        entry.Newer = entry.Older = null;
    }

    private static long Microseconds(long ticks) => (long)(ticks * (1_000_000.0 / Stopwatch.Frequency));
}
