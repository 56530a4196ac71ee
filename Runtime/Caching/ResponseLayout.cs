using System.Buffers.Binary;
using Fabrik.Inference;
using Fabrik.Tensors;

namespace Fabrik.Caching;

/// <summary>
/// How a response's outputs are laid out in a cache entry, after the key: the output count
/// (4 bytes), then for each output in configuration order its datatype (4), rank (4), dimensions
/// (8 each), element count (8), data length (4) and data. An output of rank r and b data bytes so
/// takes 20 + 8r + b bytes; little-endian throughout.
/// </summary>
internal static class ResponseLayout
{
    private const int CountBytes = 4;
    private const int FixedBytesPerOutput = 20;

    /// <summary>Bytes the outputs take in an entry; null when that passes the largest array.</summary>
    public static long? Size(TensorBuffer[] outputs)
    {
        long size = CountBytes;
        foreach (var output in outputs)
        {
            size += FixedBytesPerOutput + 8L * output.Shape.Length + output.ByteLength;
            if (size > Array.MaxLength)
            {
                return null;
            }
        }
        return size;
    }

    /// <summary>Writes <paramref name="outputs"/> into <paramref name="destination"/>, which is
    /// exactly <see cref="Size"/> bytes long.</summary>
    public static void Write(Span<byte> destination, TensorBuffer[] outputs)
    {
        BinaryPrimitives.WriteInt32LittleEndian(destination, outputs.Length);
        var at = CountBytes;
        foreach (var output in outputs)
        {
            BinaryPrimitives.WriteInt32LittleEndian(destination[at..], (int)output.DataType);
            BinaryPrimitives.WriteInt32LittleEndian(destination[(at + 4)..], output.Shape.Length);
            at += 8;
            foreach (var dim in output.Shape)
            {
                BinaryPrimitives.WriteInt64LittleEndian(destination[at..], dim);
                at += 8;
            }
            BinaryPrimitives.WriteInt64LittleEndian(destination[at..], output.ElementCount);
            BinaryPrimitives.WriteInt32LittleEndian(destination[(at + 8)..], output.ByteLength);
            at += 12;
            output.Bytes.CopyTo(destination[at..]);
            at += output.ByteLength;
        }
    }

    /// <summary>A new response holding a copy of the outputs in <paramref name="source"/>, in
    /// buffers rented from <paramref name="pool"/>; the caller owns it. Nothing stays rented when
    /// the pool refuses a buffer (the exception propagates).</summary>
    public static InferenceResponse Read(ReadOnlySpan<byte> source, TensorMemoryPool pool)
    {
        var outputs = new TensorBuffer[BinaryPrimitives.ReadInt32LittleEndian(source)];
        var at = CountBytes;
        var filled = 0;
        try
        {
            for (; filled < outputs.Length; filled++)
            {
                var dataType = (DataType)BinaryPrimitives.ReadInt32LittleEndian(source[at..]);
                var shape = new long[BinaryPrimitives.ReadInt32LittleEndian(source[(at + 4)..])];
                at += 8;
                for (var d = 0; d < shape.Length; d++, at += 8)
                {
                    shape[d] = BinaryPrimitives.ReadInt64LittleEndian(source[at..]);
                }
                var elements = BinaryPrimitives.ReadInt64LittleEndian(source[at..]);
                var length = BinaryPrimitives.ReadInt32LittleEndian(source[(at + 8)..]);
                at += 12;
                var output = new TensorBuffer(pool, dataType, shape, elements, length);
                source.Slice(at, length).CopyTo(output.Bytes);
                outputs[filled] = output;
                at += length;
            }
        }
        catch
        {
            for (var i = 0; i < filled; i++)
            {
                outputs[i].Dispose();
            }
            throw;
        }
        return new InferenceResponse(outputs);
    }
}
