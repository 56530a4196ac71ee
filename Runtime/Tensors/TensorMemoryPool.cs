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
/// a request path leaks nothing. With a byte limit, the arrays the pool owns (rented or idle) never
/// add up to more than the limit: idle arrays are let go first, and a rent that still does not fit
/// throws <see cref="TensorPoolExhaustedException"/> at once instead of growing the process.
/// </remarks>
internal sealed class TensorMemoryPool
{
    private const int MinimumSizeLog2 = 8;   // 256 bytes
    private const int MaximumSizeLog2 = 30;  // 1 GiB
    private readonly ConcurrentBag<byte[]>[] _classes;
    private readonly int _arraysKeptPerClass;
    private long _outstanding;
    private long _allocatedBytes;
    private long _rentedBytes;
    private long _liveBytes;

    /// <summary>Creates a pool that keeps at most <paramref name="arraysKeptPerClass"/> idle
    /// arrays of each size.</summary>
    /// <param name="arraysKeptPerClass">Idle arrays kept per size class.</param>
    /// <param name="byteLimit">Most bytes of arrays the pool may own at once; 0 for no limit.</param>
    public TensorMemoryPool(int arraysKeptPerClass = 64, long byteLimit = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(byteLimit);
        ByteLimit = byteLimit;
        _arraysKeptPerClass = arraysKeptPerClass;
        _classes = new ConcurrentBag<byte[]>[MaximumSizeLog2 + 1];
        for (var i = 0; i < _classes.Length; i++)
        {
            _classes[i] = [];
        }
    }

    /// <summary>Most bytes of arrays the pool may own at once (rented or idle); 0 for no limit.</summary>
    public long ByteLimit { get; }

    /// <summary>Bytes of the arrays the pool owns now, rented or idle.</summary>
    public long LiveBytes => Interlocked.Read(ref _liveBytes);

    /// <summary>Arrays rented and not yet returned.</summary>
    public long Outstanding => Interlocked.Read(ref _outstanding);

    /// <summary>Bytes of new arrays this pool has allocated since it was made (arrays reused from
    /// the pool do not count), so a test can show that a request reserved no more than it carried.</summary>
    public long AllocatedBytes => Interlocked.Read(ref _allocatedBytes);

    /// <summary>Bytes of every array handed out since the pool was made (reused or new), so a test
    /// can bound what one request reserves.</summary>
    public long RentedBytes => Interlocked.Read(ref _rentedBytes);

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
        if (!_classes[sizeClass].TryTake(out var array))
        {
            Reserve(1L << sizeClass);
            array = GC.AllocateUninitializedArray<byte>(1 << sizeClass, pinned: true);
            Interlocked.Add(ref _allocatedBytes, array.Length);
        }
        Interlocked.Increment(ref _outstanding);
        Interlocked.Add(ref _rentedBytes, array.Length);
        return array;
    }

    /// <summary>Returns an array rented from this pool. The caller must not touch it afterwards.</summary>
    public void Return(byte[] array)
    {
        Interlocked.Decrement(ref _outstanding);
        var sizeClass = BitOperations.Log2((uint)array.Length);
        var bag = _classes[sizeClass];
        if (bag.Count < _arraysKeptPerClass)
        {
            bag.Add(array);
        }
        else
        {
            Interlocked.Add(ref _liveBytes, -array.Length);
        }
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
        for (var sizeClass = _classes.Length - 1; sizeClass >= 0 && Interlocked.Read(ref _liveBytes) > ByteLimit; sizeClass--)
        {
            while (Interlocked.Read(ref _liveBytes) > ByteLimit && _classes[sizeClass].TryTake(out var idle))
            {
                Interlocked.Add(ref _liveBytes, -idle.Length);
            }
        }
        if (Interlocked.Read(ref _liveBytes) > ByteLimit)
        {
            Interlocked.Add(ref _liveBytes, -bytes);
            throw new TensorPoolExhaustedException(bytes, ByteLimit);
        }
    }

    private static int SizeClass(long length) =>
        length <= 1 << MinimumSizeLog2 ? MinimumSizeLog2 : (int)BitOperations.Log2((ulong)length - 1) + 1;
}
