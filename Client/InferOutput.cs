using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using Fabrik.Client.Wire;

namespace Fabrik.Client;

/// <summary>
/// One output tensor of an answer: name, datatype, shape and its bytes as they came off the wire
/// (little-endian elements; BYTES elements each preceded by a 4-byte length). The typed views
/// reinterpret those bytes without copying; they stay valid until the <see cref="InferResult"/>
/// that holds this output is disposed.
/// </summary>
public sealed class InferOutput
{
    private readonly long[] _shape;

    /// <summary>An output, checked: the data must hold exactly what the shape and datatype say.</summary>
    /// <exception cref="ArgumentException">The shape is invalid or the data does not match it.</exception>
    public InferOutput(string name, TensorDataType datatype, IReadOnlyList<long> shape, ReadOnlyMemory<byte> data)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(shape);
        _shape = [.. shape];
        Name = name;
        Datatype = datatype;
        Data = data;
        ElementCount = CheckLayout(name, datatype, _shape, data.Span) is { } problem ? throw new ArgumentException(problem) : Count(_shape);
    }

    /// <summary>An output that the server wrote into a shared-memory region: it carries no data.</summary>
    internal InferOutput(string name, TensorDataType datatype, long[] shape, string region, long byteSize)
    {
        _shape = shape;
        Name = name;
        Datatype = datatype;
        Data = ReadOnlyMemory<byte>.Empty;
        ElementCount = Count(shape);
        SharedMemoryRegion = region;
        SharedMemoryByteSize = byteSize;
    }

    /// <summary>The output's name.</summary>
    public string Name { get; }

    /// <summary>The element datatype.</summary>
    public TensorDataType Datatype { get; }

    /// <summary>The shape.</summary>
    public IReadOnlyList<long> Shape => _shape;

    /// <summary>The number of elements: the product of <see cref="Shape"/>.</summary>
    public long ElementCount { get; }

    /// <summary>The raw bytes, as they came off the wire; empty for an output written into shared memory.</summary>
    public ReadOnlyMemory<byte> Data { get; }

    /// <summary>The shared-memory region the server wrote this output into, as the request asked;
    /// null for an output in the answer. Its bytes are then read from the region, not from here.</summary>
    public string? SharedMemoryRegion { get; }

    /// <summary>How many bytes the server wrote into <see cref="SharedMemoryRegion"/> (at the
    /// offset the request gave); 0 for an output in the answer.</summary>
    public long SharedMemoryByteSize { get; }

    /// <summary>The elements as <typeparamref name="T"/>, without copying (BF16 as <see cref="ushort"/> bits).</summary>
    /// <exception cref="InvalidOperationException">The datatype does not hold <typeparamref name="T"/>.</exception>
    public ReadOnlySpan<T> AsSpan<T>() where T : unmanaged =>
        Datatype.Holds<T>()
            ? MemoryMarshal.Cast<byte, T>(InAnswer().Span)
            : throw new InvalidOperationException($"output '{Name}' is {Datatype.WireName()}; it cannot be read as {typeof(T).Name}");

    /// <summary>The elements as a new <typeparamref name="T"/> array.</summary>
    /// <exception cref="InvalidOperationException">The datatype does not hold <typeparamref name="T"/>.</exception>
    public T[] ToArray<T>() where T : unmanaged => AsSpan<T>().ToArray();

    /// <summary>A BF16 or FP16 output widened to floats (FP32 is copied as it is).</summary>
    /// <exception cref="InvalidOperationException">The output is not FP16, BF16 or FP32.</exception>
    public float[] ToSingles()
    {
        switch (Datatype)
        {
            case TensorDataType.Fp32:
                return ToArray<float>();
            case TensorDataType.Fp16:
                var halves = AsSpan<Half>();
                var fromHalves = new float[halves.Length];
                for (var i = 0; i < halves.Length; i++)
                {
                    fromHalves[i] = (float)halves[i];
                }
                return fromHalves;
            case TensorDataType.Bf16:
                var bits = AsSpan<ushort>();
                var fromBits = new float[bits.Length];
                for (var i = 0; i < bits.Length; i++)
                {
                    fromBits[i] = BFloat16.ToSingle(bits[i]);
                }
                return fromBits;
            default:
                throw new InvalidOperationException($"output '{Name}' is {Datatype.WireName()}, not a floating-point type of 32 bits or fewer");
        }
    }

    /// <summary>The elements of a BYTES output, each a slice of <see cref="Data"/> (no copy of the bytes).</summary>
    /// <exception cref="InvalidOperationException">The output is not BYTES.</exception>
    public ReadOnlyMemory<byte>[] ToByteStrings()
    {
        InAnswer();
        var elements = new ReadOnlyMemory<byte>[ElementCount];
        var offset = 0;
        for (var i = 0; i < elements.Length; i++)
        {
            var length = BytesElementLength(offset);
            elements[i] = Data.Slice(offset + 4, length);
            offset += 4 + length;
        }
        return elements;
    }

    /// <summary>The elements of a BYTES output decoded as UTF-8 (invalid sequences become U+FFFD).</summary>
    /// <exception cref="InvalidOperationException">The output is not BYTES.</exception>
    public string[] ToStrings()
    {
        InAnswer();
        var strings = new string[ElementCount];
        var span = Data.Span;
        var offset = 0;
        for (var i = 0; i < strings.Length; i++)
        {
            var length = BytesElementLength(offset);
            strings[i] = Encoding.UTF8.GetString(span.Slice(offset + 4, length));
            offset += 4 + length;
        }
        return strings;
    }

    /// <summary>The data, for an output that came in the answer.</summary>
    private ReadOnlyMemory<byte> InAnswer() =>
        SharedMemoryRegion is null
            ? Data
            : throw new InvalidOperationException($"output '{Name}' was written into shared memory region '{SharedMemoryRegion}' ({SharedMemoryByteSize} bytes); read it there");

    private int BytesElementLength(int offset) =>
        Datatype == TensorDataType.Bytes
            ? (int)BinaryPrimitives.ReadUInt32LittleEndian(Data.Span[offset..])
            : throw new InvalidOperationException($"output '{Name}' is {Datatype.WireName()}, not BYTES");

    /// <summary>What is wrong with an output's data for its shape and datatype, or null when nothing is.</summary>
    internal static string? CheckLayout(string name, TensorDataType datatype, ReadOnlySpan<long> shape, ReadOnlySpan<byte> data)
    {
        if (!TensorLayout.TryElementCount(shape, out var count))
        {
            return $"output '{name}' has shape [{string.Join(",", shape.ToArray())}], with a negative dimension or more than {int.MaxValue} elements";
        }
        if (datatype == TensorDataType.Bytes)
        {
            var elements = TensorLayout.CountBytesElements(data);
            return elements == count ? null
                : elements is null ? $"output '{name}': the BYTES data has a length prefix that runs past its {data.Length} bytes"
                : $"output '{name}': shape [{string.Join(",", shape.ToArray())}] holds {count} elements but the BYTES data has {elements}";
        }
        return TensorLayout.TryByteLength(count, datatype.ElementSize(), out var expected) && expected == data.Length ? null
            : $"output '{name}': shape [{string.Join(",", shape.ToArray())}] of {datatype.WireName()} needs {count * datatype.ElementSize()} bytes but {data.Length} came";
    }

    private static long Count(ReadOnlySpan<long> shape)
    {
        TensorLayout.TryElementCount(shape, out var count);
        return count;
    }
}
