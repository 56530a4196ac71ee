using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;
using Fabrik.Client.Wire;

namespace Fabrik.Client;

/// <summary>
/// One input tensor of an inference request: its name, datatype, shape and data. The data is
/// kept as the caller gave it (no copy) and goes onto the wire as its bytes, little-endian and
/// row-major, so the caller's memory must stay unchanged until the call returns. BYTES tensors,
/// whose wire form differs from any .NET array, are laid out once when the input is created.
/// </summary>
public sealed class InferInput
{
    private readonly long[] _shape;

    private InferInput(string name, TensorDataType datatype, long[] shape, ReadOnlyMemory<byte> data, long elementCount, SharedMemoryRange? sharedMemory = null)
    {
        Name = name;
        Datatype = datatype;
        _shape = shape;
        Data = data;
        ElementCount = elementCount;
        SharedMemory = sharedMemory;
    }

    /// <summary>The input's name, as the model declares it.</summary>
    public string Name { get; }

    /// <summary>The element datatype.</summary>
    public TensorDataType Datatype { get; }

    /// <summary>The shape (a copy of what the input was created with).</summary>
    public IReadOnlyList<long> Shape => _shape;

    /// <summary>The number of elements: the product of <see cref="Shape"/>.</summary>
    public long ElementCount { get; }

    /// <summary>The bytes that go onto the wire: little-endian elements, or for BYTES each element
    /// preceded by its 4-byte little-endian length. Empty for an input in shared memory.</summary>
    public ReadOnlyMemory<byte> Data { get; }

    /// <summary>Where the server reads this input instead of from the request (Triton's system
    /// shared-memory extension); null for an input that travels in the request.</summary>
    public SharedMemoryRange? SharedMemory { get; }

    internal ReadOnlySpan<long> ShapeSpan => _shape;

    /// <summary>A tensor of <typeparamref name="T"/> elements: <see cref="bool"/> (BOOL),
    /// <see cref="byte"/>, <see cref="ushort"/>, <see cref="uint"/>, <see cref="ulong"/>,
    /// <see cref="sbyte"/>, <see cref="short"/>, <see cref="int"/>, <see cref="long"/>,
    /// <see cref="Half"/> (FP16), <see cref="float"/>, <see cref="double"/>.</summary>
    /// <exception cref="ArgumentException">The shape is invalid or does not match the data's length.</exception>
    public static InferInput Create<T>(string name, ReadOnlyMemory<T> data, params long[] shape) where T : unmanaged =>
        Fixed(name, TensorDataTypes.Of<T>(), data, shape);

    /// <inheritdoc cref="Create{T}(string, ReadOnlyMemory{T}, long[])"/>
    public static InferInput Create<T>(string name, Memory<T> data, params long[] shape) where T : unmanaged =>
        Create(name, (ReadOnlyMemory<T>)data, shape);

    /// <inheritdoc cref="Create{T}(string, ReadOnlyMemory{T}, long[])"/>
    public static InferInput Create<T>(string name, T[] data, params long[] shape) where T : unmanaged =>
        Create(name, new ReadOnlyMemory<T>(data), shape);

    /// <summary>A BF16 tensor from its bits (the upper half of each float32; see <see cref="BFloat16"/>).</summary>
    /// <exception cref="ArgumentException">The shape is invalid or does not match the data's length.</exception>
    public static InferInput CreateBFloat16(string name, ReadOnlyMemory<ushort> bits, params long[] shape) =>
        Fixed(name, TensorDataType.Bf16, bits, shape);

    /// <summary>A BF16 tensor from floats, each rounded to the nearest bfloat16 (one array is allocated for the bits).</summary>
    /// <exception cref="ArgumentException">The shape is invalid or does not match the data's length.</exception>
    public static InferInput CreateBFloat16(string name, ReadOnlySpan<float> values, params long[] shape)
    {
        var bits = new ushort[values.Length];
        for (var i = 0; i < values.Length; i++)
        {
            bits[i] = BFloat16.FromSingle(values[i]);
        }
        return Fixed(name, TensorDataType.Bf16, new ReadOnlyMemory<ushort>(bits), shape);
    }

    /// <summary>A BYTES tensor of strings, each sent as its UTF-8 bytes.</summary>
    /// <exception cref="ArgumentException">The shape is invalid or does not match the number of strings.</exception>
    public static InferInput CreateStrings(string name, IReadOnlyList<string> values, params long[] shape)
    {
        ArgumentNullException.ThrowIfNull(values);
        long length = 0;
        for (var i = 0; i < values.Count; i++)
        {
            length += 4L + Encoding.UTF8.GetByteCount(values[i] ?? throw new ArgumentException($"input '{name}': element {i} is null", nameof(values)));
        }
        var data = new byte[CheckedLength(name, length)];
        var written = 0;
        foreach (var value in values)
        {
            var count = Encoding.UTF8.GetBytes(value, data.AsSpan(written + 4));
            BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(written), count);
            written += 4 + count;
        }
        return Bytes(name, data, values.Count, shape);
    }

    /// <summary>A BYTES tensor of raw byte strings (any bytes, not only UTF-8).</summary>
    /// <exception cref="ArgumentException">The shape is invalid or does not match the number of elements.</exception>
    public static InferInput CreateBytes(string name, IReadOnlyList<ReadOnlyMemory<byte>> values, params long[] shape)
    {
        ArgumentNullException.ThrowIfNull(values);
        long length = 0;
        foreach (var value in values)
        {
            length += 4L + value.Length;
        }
        var data = new byte[CheckedLength(name, length)];
        var written = 0;
        foreach (var value in values)
        {
            written += TensorLayout.WriteBytesElement(value.Span, data.AsSpan(written));
        }
        return Bytes(name, data, values.Count, shape);
    }

    /// <summary>A tensor from bytes already in wire form (Triton's C++ client calls this
    /// <c>AppendRaw</c>): little-endian elements, or for BYTES each element preceded by its 4-byte
    /// little-endian length. The bytes are sent as they are, not copied.</summary>
    /// <exception cref="ArgumentException">The shape is invalid or the bytes do not hold what it and the datatype need.</exception>
    public static InferInput CreateRaw(string name, TensorDataType datatype, ReadOnlyMemory<byte> data, params long[] shape)
    {
        var copy = CheckShape(name, shape, out var count);
        if (datatype == TensorDataType.Bytes)
        {
            var elements = TensorLayout.CountBytesElements(data.Span);
            return elements == count
                ? new InferInput(name, datatype, copy, data, count)
                : throw new ArgumentException(elements is null
                    ? $"input '{name}': a BYTES length prefix runs past the {data.Length} bytes given"
                    : $"input '{name}': shape [{string.Join(",", copy)}] holds {count} elements but the BYTES data has {elements}", nameof(data));
        }
        return TensorLayout.TryByteLength(count, datatype.ElementSize(), out var length) && length == data.Length
            ? new InferInput(name, datatype, copy, data, count)
            : throw new ArgumentException($"input '{name}': shape [{string.Join(",", copy)}] of {datatype.WireName()} needs {count * datatype.ElementSize()} bytes but {data.Length} were given", nameof(data));
    }

    /// <summary>An input the server reads from a registered shared-memory region (Triton's system
    /// shared-memory extension) instead of from the request: the caller has written its bytes
    /// there, in the same layout as <see cref="CreateRaw"/> takes.</summary>
    /// <exception cref="ArgumentException">The shape is invalid, or the range's size is not what the
    /// shape and datatype need (BYTES: at least 4 bytes per element).</exception>
    public static InferInput CreateInSharedMemory(string name, TensorDataType datatype, SharedMemoryRange range, params long[] shape)
    {
        ArgumentNullException.ThrowIfNull(range);
        var copy = CheckShape(name, shape, out var count);
        var fits = datatype == TensorDataType.Bytes
            ? range.ByteSize >= 4 * count
            : TensorLayout.TryByteLength(count, datatype.ElementSize(), out var length) && length == range.ByteSize;
        return fits
            ? new InferInput(name, datatype, copy, ReadOnlyMemory<byte>.Empty, count, range)
            : throw new ArgumentException($"input '{name}': shape [{string.Join(",", copy)}] of {datatype.WireName()} does not fit the {range.ByteSize} bytes of its shared-memory range", nameof(range));
    }

    private static InferInput Fixed<T>(string name, TensorDataType datatype, ReadOnlyMemory<T> data, long[] shape) where T : unmanaged
    {
        var copy = CheckShape(name, shape, out var count);
        if (count != data.Length)
        {
            throw new ArgumentException($"input '{name}': shape [{string.Join(",", copy)}] holds {count} elements but {data.Length} were given", nameof(data));
        }
        var bytes = typeof(T) == typeof(byte) ? Unsafe.As<ReadOnlyMemory<T>, ReadOnlyMemory<byte>>(ref data)
            : data.IsEmpty ? ReadOnlyMemory<byte>.Empty
            : new CastMemoryManager<T>(data).Memory;
        return new InferInput(name, datatype, copy, bytes, count);
    }

    private static InferInput Bytes(string name, byte[] data, int elements, long[] shape)
    {
        var copy = CheckShape(name, shape, out var count);
        if (count != elements)
        {
            throw new ArgumentException($"input '{name}': shape [{string.Join(",", copy)}] holds {count} elements but {elements} were given");
        }
        return new InferInput(name, TensorDataType.Bytes, copy, data, count);
    }

    private static long[] CheckShape(string name, long[] shape, out long count)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(shape);
        var copy = (long[])shape.Clone();
        if (!TensorLayout.TryElementCount(copy, out count))
        {
            throw new ArgumentException($"input '{name}': shape [{string.Join(",", copy)}] has a negative dimension or more than {int.MaxValue} elements", nameof(shape));
        }
        return copy;
    }

    private static int CheckedLength(string name, long length) =>
        length <= Array.MaxLength ? (int)length : throw new ArgumentException($"input '{name}' is larger than {Array.MaxLength} bytes");
}
