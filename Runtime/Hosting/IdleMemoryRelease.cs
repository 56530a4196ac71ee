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

    private readonly TensorMemoryPool _pool;
    private readonly ITimer _timer;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private long _rentedAtLastTick;
    private bool _returnedSinceActivity = true;

    public IdleMemoryRelease(TensorMemoryPool pool, TimeProvider time, ILogger? logger = null)
    {
        _pool = pool;
        _logger = logger ?? NullLogger.Instance;
        _rentedAtLastTick = pool.RentedBytes;
        _timer = time.CreateTimer(_ => Tick(), null, Period, Period);
    }

    /// <summary>Idle stretches in which the heap was compacted and the native heap trimmed.</summary>
    public int Returns { get; private set; }

    /// <summary>Busy minutes after which the native heap was trimmed.</summary>
    public int BusyTrims { get; private set; }

    /// <summary>One period's work: returns the pool's idle bytes released, whether the server was
    /// found newly idle (so the heaps were given back), and whether it was busy (so the native heap
    /// alone was trimmed).</summary>
    public (long PoolBytesReleased, bool HeapsReturned, bool BusyTrim) Tick()
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
                return (released, false, true);
            }
            if (_returnedSinceActivity)
            {
                return (released, false, false);
            }
            _returnedSinceActivity = true;
            // Aggressive: compacts and decommits what the collection freed, instead of keeping it
            // for allocations that an idle server will not make.
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            NativeHeap.Trim();
            Returns++;
            return (released, true, false);
        }
    }

    public void Dispose() => _timer.Dispose();

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Debug, Message = "memory: native heap trimmed after a busy minute in {Milliseconds:F2} ms")]
        public static partial void BusyTrim(ILogger logger, double milliseconds);
    }
}
