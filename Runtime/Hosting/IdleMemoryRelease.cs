using Fabrik.Native.Memory;
using Fabrik.Tensors;

namespace Fabrik.Hosting;

/// <summary>
/// Gives memory back once traffic stops. Every minute the tensor pool drops the idle arrays of size
/// classes that no request rented during the minute (<see cref="TensorMemoryPool.ReleaseIdle"/>).
/// The first minute in which nothing at all was rented, after a busy one, the server is idle: then
/// one compacting full collection returns the managed heap's free regions (the dropped arrays live
/// on the pinned heap, which only a full collection frees) and glibc's free pages go back to the
/// kernel. So a burst's memory is returned after it ends, at the cost of one pause while no request
/// is running, and an idle server is not collected again until it has served something.
/// </summary>
/// <remarks>Owned by the host, which disposes it when the server begins to stop. Ticks come from
/// the timer, one at a time; <see cref="Tick"/> is also the tests' way in, under the same lock.</remarks>
internal sealed class IdleMemoryRelease : IDisposable
{
    public static readonly TimeSpan Period = TimeSpan.FromMinutes(1);

    private readonly TensorMemoryPool _pool;
    private readonly ITimer _timer;
    private readonly Lock _gate = new();
    private long _rentedAtLastTick;
    private bool _returnedSinceActivity = true;

    public IdleMemoryRelease(TensorMemoryPool pool, TimeProvider time)
    {
        _pool = pool;
        _rentedAtLastTick = pool.RentedBytes;
        _timer = time.CreateTimer(_ => Tick(), null, Period, Period);
    }

    /// <summary>Idle stretches in which the heap was compacted and the native heap trimmed.</summary>
    public int Returns { get; private set; }

    /// <summary>One period's work: returns the pool's idle bytes released and whether the server was
    /// found newly idle (so the heaps were given back).</summary>
    public (long PoolBytesReleased, bool HeapsReturned) Tick()
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
                return (released, false);
            }
            if (_returnedSinceActivity)
            {
                return (released, false);
            }
            _returnedSinceActivity = true;
            // Aggressive: compacts and decommits what the collection freed, instead of keeping it
            // for allocations that an idle server will not make.
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            NativeHeap.Trim();
            Returns++;
            return (released, true);
        }
    }

    public void Dispose() => _timer.Dispose();
}
