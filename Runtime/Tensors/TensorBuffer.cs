using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Fabrik.Tensors;

/// <summary>
/// One tensor's element type, shape and data, held in a pinned array rented from a
/// <see cref="TensorMemoryPool"/>. Numeric data is little-endian and row-major. BYTES data uses
/// the binary tensor extension's layout: each element is a 4-byte little-endian length followed
/// by that many bytes.
/// </summary>
/// <remarks>Owned by exactly one holder at a time (a request, a batch or a response); the owner
/// disposes it, which returns the array to the pool. Not thread-safe.</remarks>
internal sealed class TensorBuffer : IDisposable
{
    private readonly TensorMemoryPool _pool;
    private byte[]? _array;

    // The most bytes the owner may have written: the rented length, or more after SetByteLength.
    // Only these are cleared when the array goes back to the pool.
    private int _writableLength;

    /// <summary>Rents space for <paramref name="byteLength"/> bytes of tensor data. The caller
    /// parameters name the code that made the buffer, for the pool's leak report in Debug builds.</summary>
    public TensorBuffer(
        TensorMemoryPool pool, DataType dataType, long[] shape, long elementCount, long byteLength,
        [CallerMemberName] string caller = "", [CallerFilePath] string callerFile = "", [CallerLineNumber] int callerLine = 0)
    {
        _pool = pool;
        _array = pool.Rent(byteLength, caller, callerFile, callerLine);
        DataType = dataType;
        Shape = shape;
        ElementCount = elementCount;
        ByteLength = (int)byteLength;
        _writableLength = ByteLength;
    }

    /// <summary>Element type.</summary>
    public DataType DataType { get; }

    /// <summary>Dimensions, outermost first (the batch dimension, when there is one, is first).</summary>
    public long[] Shape { get; }

    /// <summary>Number of elements: the product of <see cref="Shape"/>.</summary>
    public long ElementCount { get; }

    /// <summary>Bytes of data in use.</summary>
    public int ByteLength { get; private set; }

    /// <summary>The data, writable by the owner.</summary>
    public Span<byte> Bytes => Array.AsSpan(0, ByteLength);

    /// <summary>The whole rented array, which may be longer than <see cref="ByteLength"/>. Write
    /// only within the length rented (or set since): the pool clears no more than that.</summary>
    public byte[] Array => _array ?? throw new ObjectDisposedException(nameof(TensorBuffer));

    /// <summary>Address of the data. Stable for the buffer's life: the array is pinned.</summary>
    public unsafe IntPtr Pointer => (IntPtr)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(Array));

    /// <summary>Sets how many bytes are in use, for BYTES tensors whose size is known only after
    /// they are written.</summary>
    public void SetByteLength(int byteLength)
    {
        if ((uint)byteLength > (uint)Array.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(byteLength));
        }
        ByteLength = byteLength;
        _writableLength = Math.Max(_writableLength, byteLength);
    }

    /// <summary>Views the data as elements of <typeparamref name="T"/>.</summary>
    public Span<T> As<T>() where T : unmanaged => MemoryMarshal.Cast<byte, T>(Bytes);

    /// <summary>Walks the elements of a BYTES tensor. Each element is a slice of this buffer.</summary>
    public BytesElementEnumerator BytesElements() => new(Bytes);

    /// <summary>Returns the array to its pool. Safe to call more than once.</summary>
    public void Dispose()
    {
        var array = Interlocked.Exchange(ref _array, null);
        if (array is not null)
        {
            _pool.Return(array, _writableLength);
        }
    }
}
