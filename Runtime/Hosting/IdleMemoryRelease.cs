using System.Diagnostics;
using Fabrik.Native.Memory;
using Fabrik.Tensors;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fabrik.Hosting;

/// <summary>
/// Gives memory back, once a minute. The tensor pool drops the idle arrays of size classes that no
/// request rented during the minute (<see cref="TensorMemoryPool.ReleaseIdle"/>).
/// <list type="bullet">
/// <item>A busy minute ends with glibc's free pages going back to the kernel
/// (<see cref="NativeHeap.Trim"/>). glibc returns only the top of each arena by itself, so pages
/// freed inside an arena (by ONNX Runtime's runs and session loads, by the runtime) stay resident,
/// and under steady traffic more of them are touched over the hours: the soak's slow climb in
/// resident memory. The trim holds each arena's lock while it walks the arena's free chunks.</item>
/// <item>A busy minute after which more than <see cref="PinnedGrowthBound"/> of pinned arrays were
/// allocated since the last full collection ends with one (blocking, not compacting). Only a full
/// collection frees the pinned heap, and a server whose managed heap is small and steady rarely
/// needs one, so dropped pinned arrays (the blocks Kestrel's memory pool evicts when idle, the
/// tensor pool's idle classes) stay, and new ones take new pages instead of reusing their space:
/// most of the soak's remaining climb.</item>
/// <item>The first minute in which nothing at all was rented, after a busy one, the server is idle:
/// then one compacting full collection returns the managed heap's free regions (the dropped arrays
/// live on the pinned heap, which only a full collection frees) and the native heap is trimmed.
/// So a burst's memory is returned after it ends, at the cost of one pause while no request is
/// running, and an idle server is not collected again until it has served something.</item>
/// </list>
/// </summary>
/// <remarks>Owned by the host, which disposes it when the server begins to stop. Ticks come from
/// the timer, one at a time; <see cref="Tick"/> is also the tests' way in, under the same lock.</remarks>
internal sealed partial class IdleMemoryRelease : IDisposable
{
    public static readonly TimeSpan Period = TimeSpan.FromMinutes(1);

    /// <summary>Pinned arrays allocated since the last full collection, past which a busy minute
    /// runs one: about half an hour of the soak's dropped pinned blocks.</summary>
    public const long PinnedGrowthBound = 1 << 20;

    private readonly TensorMemoryPool _pool;
    private readonly ITimer _timer;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly Func<PinnedHeap> _pinnedHeap;
    private long _rentedAtLastTick;
    private bool _returnedSinceActivity = true;

    /// <param name="pool">The tensor pool, whose rents tell a busy minute from an idle one.</param>
    /// <param name="time">The clock the minute timer runs on.</param>
    /// <param name="logger">Where the busy minute's work is logged (Debug), if anywhere.</param>
    /// <param name="pinnedHeap">The pinned heap's sizes (<see cref="PinnedHeap"/>): the runtime's
    /// figures by default, set ones in tests that must not depend on what else the process allocates.</param>
    public IdleMemoryRelease(TensorMemoryPool pool, TimeProvider time, ILogger? logger = null, Func<PinnedHeap>? pinnedHeap = null)
    {
        _pool = pool;
        _logger = logger ?? NullLogger.Instance;
        _pinnedHeap = pinnedHeap ?? PinnedHeap.FromRuntime;
        _rentedAtLastTick = pool.RentedBytes;
        _timer = time.CreateTimer(_ => Tick(), null, Period, Period);
    }

    /// <summary>Idle stretches in which the heap was compacted and the native heap trimmed.</summary>
    public int Returns { get; private set; }

    /// <summary>Busy minutes after which the native heap was trimmed.</summary>
    public int BusyTrims { get; private set; }

    /// <summary>Busy minutes that ended with a full collection, for the pinned heap's growth.</summary>
    public int PinnedCollections { get; private set; }

    /// <summary>One period's work: returns the pool's idle bytes released, whether the server was
    /// found newly idle (so the heaps were given back), whether it was busy (so the native heap
    /// was trimmed), and whether that busy minute also collected the pinned heap's growth.</summary>
    public (long PoolBytesReleased, bool HeapsReturned, bool BusyTrim, bool PinnedCollected) Tick()
    {
        lock (_gate)
        {
            var released = _pool.ReleaseIdle();
            var rented = _pool.RentedBytes;
            var idle = rented == _rentedAtLastTick && _pool.Outstanding == 0;
            _rentedAtLastTick = rented;
            if (!idle)
            {
                _returnedSinceActivity = false;
                var trimStart = Stopwatch.GetTimestamp();
                NativeHeap.Trim();
                BusyTrims++;
                Log.BusyTrim(_logger, Stopwatch.GetElapsedTime(trimStart).TotalMilliseconds);
                return (released, false, true, CollectPinnedGrowth());
            }
            if (_returnedSinceActivity)
            {
                return (released, false, false, false);
            }
            _returnedSinceActivity = true;
            // Aggressive: compacts and decommits what the collection freed, instead of keeping it
            // for allocations that an idle server will not make.
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            NativeHeap.Trim();
            Returns++;
            return (released, true, false, false);
        }
    }

    /// <summary>A full collection once more than the bound of pinned arrays were allocated since
    /// the last one, whoever ran it: the dead among them are freed, and new arrays fill their space
    /// instead of new pages. What survived is the next baseline, so live pinned memory that grows
    /// with the load (more connections) costs one collection, not one a minute.</summary>
    private bool CollectPinnedGrowth()
    {
        var growth = _pinnedHeap().Growth;
        if (growth <= PinnedGrowthBound)
        {
            return false;
        }
        var start = Stopwatch.GetTimestamp();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: false);
        PinnedCollections++;
        Log.PinnedCollection(_logger, growth / 1024, Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        return true;
    }

    public void Dispose() => _timer.Dispose();

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Debug, Message = "memory: native heap trimmed after a busy minute in {Milliseconds:F2} ms")]
        public static partial void BusyTrim(ILogger logger, double milliseconds);

        [LoggerMessage(EventId = 2, Level = LogLevel.Debug, Message = "memory: {KiB} KiB of pinned arrays allocated since the last full collection; collected in {Milliseconds:F2} ms")]
        public static partial void PinnedCollection(ILogger logger, long kiB, double milliseconds);
    }
}
