using System.Collections.Concurrent;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace Fabrik.Tensors;

/// <summary>
/// Pinned byte arrays in power-of-two size classes, for tensor data that native libraries read
/// in place. Arrays live on the pinned object heap, so their address never changes and ONNX
/// Runtime or libtorch can wrap them without a copy.
/// </summary>
/// <remarks>
/// Thread-safe. Whoever rents an array owns it until it is returned exactly once.
/// <see cref="Outstanding"/> counts arrays rented and not yet returned, so a test can show that
/// a request path leaks nothing. Debug builds also record where each outstanding array was
/// rented (<see cref="DescribeOutstanding"/>) and refuse an array returned twice, so a leak or a
/// double return fails a test with the code that caused it. With a byte limit, the arrays the pool
/// owns (rented or idle) never add up to more than the limit: idle arrays are let go first, and a
/// rent that still does not fit throws <see cref="TensorPoolExhaustedException"/> at once instead
/// of growing the process.
/// With clearing on (the default), every array in the pool is all zero: new arrays are allocated
/// zeroed, and a returned array has its written bytes cleared before it is reused. Large arrays
/// are cleared on a thread-pool thread (<see cref="ScrubInBackgroundFrom"/>), so the instance
/// loop that returns a batch's buffers starts the next run instead of zeroing megabytes.
/// </remarks>
internal sealed class TensorMemoryPool
{
    private const int MinimumSizeLog2 = 8;   // 256 bytes
    private const int MaximumSizeLog2 = 30;  // 1 GiB

    /// <summary>Written lengths from which a returned array is cleared off the returning thread.
    /// Below it, clearing inline costs less than handing the array over.</summary>
    public const int ScrubInBackgroundFrom = 1 << 20;
    private readonly ConcurrentBag<byte[]>[] _classes;
    private readonly int _arraysKeptPerClass;
    private readonly bool _clearOnReturn;

    // Set by Rent, cleared by ReleaseIdle: a class not rented from between two calls is idle.
    // Plain writes: a lost update only delays a release by one period.
    private readonly bool[] _rentedSinceRelease = new bool[MaximumSizeLog2 + 1];
    private long _outstanding;
#if DEBUG
    private readonly ConcurrentDictionary<byte[], (string Member, string File, int Line)> _rentedBy = new(ReferenceEqualityComparer.Instance);
#endif
    private long _allocatedBytes;
    private long _rentedBytes;
    private long _outstandingBytes;
    private long _liveBytes;
    private long _externalBytes;
    private long _scrubbing;

    // Returned arrays waiting to be cleared, with their written lengths. One thread-pool work item
    // is queued per array and clears whichever is next; a rent that would pass the byte limit
    // clears them itself instead of waiting for the thread pool.
    private readonly ConcurrentQueue<(byte[] Array, int Length)> _toScrub = new();

    /// <summary>Creates a pool that keeps at most <paramref name="arraysKeptPerClass"/> idle
    /// arrays of each size.</summary>
    /// <param name="arraysKeptPerClass">Idle arrays kept per size class.</param>
    /// <param name="byteLimit">Most bytes of arrays the pool may own at once; 0 for no limit.</param>
    /// <param name="clearOnReturn">Zero each array when it is returned, so one request's tensors
    /// never linger where the next request (or a memory dump) could see them (--clear-buffers).</param>
    public TensorMemoryPool(int arraysKeptPerClass = 64, long byteLimit = 0, bool clearOnReturn = true)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(byteLimit);
        ByteLimit = byteLimit;
        _arraysKeptPerClass = arraysKeptPerClass;
        _clearOnReturn = clearOnReturn;
        _classes = new ConcurrentBag<byte[]>[MaximumSizeLog2 + 1];
        for (var i = 0; i < _classes.Length; i++)
        {
            _classes[i] = [];
        }
    }

    /// <summary>Arrays returned and being cleared on a thread-pool thread; they are back in the
    /// pool once this falls to zero.</summary>
    public long Scrubbing => Interlocked.Read(ref _scrubbing);

    /// <summary>Arrays rented and not yet returned.</summary>
    public long Outstanding => Interlocked.Read(ref _outstanding);

    /// <summary>Bytes of new arrays this pool has allocated since it was made (arrays reused from
    /// the pool do not count), so a test can show that a request reserved no more than it carried.</summary>
    public long AllocatedBytes => Interlocked.Read(ref _allocatedBytes);
    /// <summary>Bytes in arrays rented and not yet returned.</summary>
    public long OutstandingBytes => Interlocked.Read(ref _outstandingBytes);

    /// <summary>Bytes of the arrays the pool owns now, rented or idle, and of the memory counted
    /// through <see cref="ReserveExternal"/>.</summary>
    public long LiveBytes => Interlocked.Read(ref _liveBytes);

    /// <summary>Most bytes of arrays the pool may own at once (rented or idle); 0 for no limit.</summary>
    public long ByteLimit { get; }

    /// <summary>Bytes of every array handed out since the pool was made (reused or new), so a test
    /// can bound what one request reserves.</summary>
    public long RentedBytes => Interlocked.Read(ref _rentedBytes);

    /// <summary>Largest request the pool serves.</summary>
    public static long MaximumLength => 1L << MaximumSizeLog2;

    /// <summary>The largest tensor this pool can ever rent: <see cref="MaximumLength"/>, or with a
    /// byte limit the largest power-of-two array that fits under it (arrays come in powers of two).
    /// A dynamic batch is cut before its gathered inputs would need more.</summary>
    public long LargestTensorBytes => ByteLimit == 0 ? MaximumLength : Math.Min(MaximumLength, 1L << BitOperations.Log2((ulong)ByteLimit));

    /// <summary>Rents a pinned array of at least <paramref name="minimumLength"/> bytes. The
    /// caller parameters name who rented it, for <see cref="DescribeOutstanding"/> (they cost
    /// nothing: the compiler fills them in with constants).</summary>
    public byte[] Rent(
        long minimumLength, [CallerMemberName] string caller = "", [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
    {
        if (minimumLength > MaximumLength)
        {
            throw new ArgumentOutOfRangeException(nameof(minimumLength), $"tensor of {minimumLength} bytes exceeds the {MaximumLength}-byte limit");
        }
        var sizeClass = SizeClass(minimumLength);
        _rentedSinceRelease[sizeClass] = true;
        if (!_classes[sizeClass].TryTake(out var array))
        {
            Reserve(1L << sizeClass);
            // Zeroed when clearing is on: Return clears only what was written since the rent.
            array = _clearOnReturn
                ? GC.AllocateArray<byte>(1 << sizeClass, pinned: true)
                : GC.AllocateUninitializedArray<byte>(1 << sizeClass, pinned: true);
            Interlocked.Add(ref _allocatedBytes, array.Length);
        }
        Interlocked.Increment(ref _outstanding);
        Interlocked.Add(ref _rentedBytes, array.Length);
        Interlocked.Add(ref _outstandingBytes, array.Length);
#if DEBUG
        _rentedBy[array] = (caller, callerFile, callerLine);
#endif
        return array;
    }

    /// <summary>Returns an array rented from this pool, any of which may have been written. The
    /// caller must not touch it afterwards.</summary>
    public void Return(byte[] array) => Return(array, array.Length);

    /// <summary>Returns an array rented from this pool of which at most the first
    /// <paramref name="writtenLength"/> bytes were written since it was rented; only those are
    /// cleared. The caller must not touch it afterwards.</summary>
    public void Return(byte[] array, int writtenLength)
    {
#if DEBUG
        if (!_rentedBy.TryRemove(array, out _))
        {
            throw new InvalidOperationException("an array was returned to the tensor pool that is not rented from it (returned twice, or never rented)");
        }
#endif
        Interlocked.Decrement(ref _outstanding);
        Interlocked.Add(ref _outstandingBytes, -array.Length);
        writtenLength = Math.Clamp(writtenLength, 0, array.Length);
        if (_clearOnReturn && writtenLength >= ScrubInBackgroundFrom)
        {
            Interlocked.Increment(ref _scrubbing);
            _toScrub.Enqueue((array, writtenLength));
            ThreadPool.UnsafeQueueUserWorkItem(static pool => pool.ScrubNext(), this, preferLocal: false);
            return;
        }
        Keep(array, _clearOnReturn ? writtenLength : 0);
    }

    /// <summary>Clears the next array waiting to be cleared and keeps it. Returns false when none waits.</summary>
    private bool ScrubNext()
    {
        if (!_toScrub.TryDequeue(out var waiting))
        {
            return false;
        }
        Keep(waiting.Array, waiting.Length);
        Interlocked.Decrement(ref _scrubbing);
        return true;
    }

    /// <summary>Clears the first <paramref name="clearLength"/> bytes and keeps the array idle for
    /// reuse, or lets it go when its class holds enough.</summary>
    private void Keep(byte[] array, int clearLength)
    {
        array.AsSpan(0, clearLength).Clear();
        var sizeClass = BitOperations.Log2((uint)array.Length);
        var bag = _classes[sizeClass];
        if (bag.Count < _arraysKeptPerClass)
        {
            bag.Add(array);
        }
        else
        {
            Interlocked.Add(ref _liveBytes, -array.Length); // dropped: the GC reclaims it
        }
    }

    /// <summary>Bytes of memory held outside the pool's arrays and counted against its limit: the
    /// page-locked staging buffers of the GPU pipeline (see <see cref="ReserveExternal"/>).</summary>
    public long ExternalBytes => Interlocked.Read(ref _externalBytes);

    /// <summary>Counts <paramref name="bytes"/> of memory allocated elsewhere (page-locked staging
    /// made through the CUDA driver, or a simulated device's) against the limit, letting idle arrays
    /// go to make room, as Triton counts staging against its pinned memory pool. The caller
    /// allocates only once this returns, and calls <see cref="ReleaseExternal"/> with the same
    /// number when it frees the memory.</summary>
    /// <exception cref="TensorPoolExhaustedException">The bytes do not fit under the limit.</exception>
    public void ReserveExternal(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        Reserve(bytes);
        Interlocked.Add(ref _externalBytes, bytes);
    }

    /// <summary>Gives back bytes counted by <see cref="ReserveExternal"/>.</summary>
    public void ReleaseExternal(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        Interlocked.Add(ref _externalBytes, -bytes);
        Interlocked.Add(ref _liveBytes, -bytes);
    }

    /// <summary>Counts <paramref name="bytes"/> of a new array against the limit, letting idle
    /// arrays go (largest first) to make room.</summary>
    private void Reserve(long bytes)
    {
        var live = Interlocked.Add(ref _liveBytes, bytes);
        if (ByteLimit == 0 || live <= ByteLimit)
        {
            return;
        }
        LetIdleArraysGo();
        if (Interlocked.Read(ref _liveBytes) > ByteLimit)
        {
            // Arrays waiting to be cleared can be let go once cleared: clear them here rather
            // than refuse a rent that fits once they are idle.
            while (ScrubNext())
            {
            }
            // What is still counted is being cleared by a thread-pool thread right now, and is
            // back in its class within the time one clear takes.
            SpinWait.SpinUntil(() => Scrubbing == 0, TimeSpan.FromSeconds(1));
            LetIdleArraysGo();
        }
        if (Interlocked.Read(ref _liveBytes) > ByteLimit)
        {
            Interlocked.Add(ref _liveBytes, -bytes);
            throw new TensorPoolExhaustedException(bytes, ByteLimit);
        }
    }

    /// <summary>Lets idle arrays go, largest first, until the live bytes fit the limit.</summary>
    private void LetIdleArraysGo()
    {
        for (var sizeClass = _classes.Length - 1; sizeClass >= 0 && Interlocked.Read(ref _liveBytes) > ByteLimit; sizeClass--)
        {
            while (Interlocked.Read(ref _liveBytes) > ByteLimit && _classes[sizeClass].TryTake(out var idle))
            {
                Interlocked.Add(ref _liveBytes, -idle.Length);
            }
        }
    }

    /// <summary>Drops the idle arrays of every size class nothing was rented from since the
    /// previous call (the server calls this once a minute), so memory taken by a burst of large
    /// tensors goes back to the runtime. Returns the bytes released.</summary>
    public long ReleaseIdle()
    {
        long released = 0;
        for (var sizeClass = 0; sizeClass < _classes.Length; sizeClass++)
        {
            if (!_rentedSinceRelease[sizeClass])
            {
                while (_classes[sizeClass].TryTake(out var array))
                {
                    released += array.Length;
                    Interlocked.Add(ref _liveBytes, -array.Length);
                }
            }
            _rentedSinceRelease[sizeClass] = false;
        }
        return released;
    }

    /// <summary>Arrays kept idle for reuse, all classes together.</summary>
    public int IdleArrays => _classes.Sum(bag => bag.Count);

    /// <summary>Where each outstanding array was rented (Debug builds; empty in Release, where
    /// only <see cref="Outstanding"/> is kept).</summary>
    public IReadOnlyList<string> DescribeOutstanding()
    {
#if DEBUG
        return [.. _rentedBy.Select(rental => $"{rental.Key.Length} bytes rented by {rental.Value.Member} ({Path.GetFileName(rental.Value.File)}:{rental.Value.Line})")];
#else
        return [];
#endif
    }

    private static int SizeClass(long length) =>
        length <= 1 << MinimumSizeLog2 ? MinimumSizeLog2 : (int)BitOperations.Log2((ulong)length - 1) + 1;
}
