using System.Collections.Concurrent;
using System.Numerics;

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
/// double return fails a test with the code that caused it.
/// </remarks>
internal sealed class TensorMemoryPool
{
    private const int MinimumSizeLog2 = 8;   // 256 bytes
    private const int MaximumSizeLog2 = 30;  // 1 GiB
    private readonly ConcurrentBag<byte[]>[] _classes;
    private readonly int _arraysKeptPerClass;
    private readonly bool _clearOnReturn;

    // Set by Rent, cleared by ReleaseIdle: a class not rented from between two calls is idle.
    // Plain writes: a lost update only delays a release by one period.
    private readonly bool[] _rentedSinceRelease = new bool[MaximumSizeLog2 + 1];
    private long _outstanding;
#if DEBUG
    private readonly ConcurrentDictionary<byte[], System.Diagnostics.StackTrace> _rentedBy = new(ReferenceEqualityComparer.Instance);
#endif

    /// <summary>Creates a pool that keeps at most <paramref name="arraysKeptPerClass"/> idle
    /// arrays of each size.</summary>
    /// <param name="arraysKeptPerClass">Arrays kept for reuse per size class.</param>
    /// <param name="clearOnReturn">Zero each array when it is returned, so one request's tensors
    /// never linger where the next request (or a memory dump) could see them (--clear-buffers).</param>
    public TensorMemoryPool(int arraysKeptPerClass = 64, bool clearOnReturn = true)
    {
        _arraysKeptPerClass = arraysKeptPerClass;
        _clearOnReturn = clearOnReturn;
        _classes = new ConcurrentBag<byte[]>[MaximumSizeLog2 + 1];
        for (var i = 0; i < _classes.Length; i++)
        {
            _classes[i] = [];
        }
    }

    /// <summary>Arrays rented and not yet returned.</summary>
    public long Outstanding => Interlocked.Read(ref _outstanding);

    /// <summary>Largest request the pool serves.</summary>
    public static long MaximumLength => 1L << MaximumSizeLog2;

    /// <summary>Rents a pinned array of at least <paramref name="minimumLength"/> bytes.</summary>
    public byte[] Rent(long minimumLength)
    {
        if (minimumLength > MaximumLength)
        {
            throw new ArgumentOutOfRangeException(nameof(minimumLength), $"tensor of {minimumLength} bytes exceeds the {MaximumLength}-byte limit");
        }
        var sizeClass = SizeClass(minimumLength);
        _rentedSinceRelease[sizeClass] = true;
        if (!_classes[sizeClass].TryTake(out var array))
        {
            array = GC.AllocateUninitializedArray<byte>(1 << sizeClass, pinned: true);
        }
        Interlocked.Increment(ref _outstanding);
#if DEBUG
        _rentedBy[array] = new System.Diagnostics.StackTrace(1, fNeedFileInfo: false);
#endif
        return array;
    }

    /// <summary>Returns an array rented from this pool. The caller must not touch it afterwards.</summary>
    public void Return(byte[] array)
    {
#if DEBUG
        if (!_rentedBy.TryRemove(array, out _))
        {
            throw new InvalidOperationException("an array was returned to the tensor pool that is not rented from it (returned twice, or never rented)");
        }
#endif
        Interlocked.Decrement(ref _outstanding);
        if (_clearOnReturn)
        {
            Array.Clear(array);
        }
        var sizeClass = BitOperations.Log2((uint)array.Length);
        var bag = _classes[sizeClass];
        if (bag.Count < _arraysKeptPerClass)
        {
            bag.Add(array);
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
        return [.. _rentedBy.Select(rental => $"{rental.Key.Length} bytes rented at\n{rental.Value}")];
#else
        return [];
#endif
    }

    private static int SizeClass(long length) =>
        length <= 1 << MinimumSizeLog2 ? MinimumSizeLog2 : (int)BitOperations.Log2((ulong)length - 1) + 1;
}
