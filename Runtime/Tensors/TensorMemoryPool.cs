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
/// a request path leaks nothing.
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

    /// <summary>Creates a pool that keeps at most <paramref name="arraysKeptPerClass"/> idle
    /// arrays of each size.</summary>
    public TensorMemoryPool(int arraysKeptPerClass = 64)
    {
        _arraysKeptPerClass = arraysKeptPerClass;
        _classes = new ConcurrentBag<byte[]>[MaximumSizeLog2 + 1];
        for (var i = 0; i < _classes.Length; i++)
        {
            _classes[i] = [];
        }
    }

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
    }

    private static int SizeClass(long length) =>
        length <= 1 << MinimumSizeLog2 ? MinimumSizeLog2 : (int)BitOperations.Log2((ulong)length - 1) + 1;
}
