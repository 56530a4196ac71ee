using System.Buffers.Binary;
using System.Text.Json;
using Fabrik.Client.Wire;

namespace Fabrik.Client.Http;

/// <summary>
/// Reads an output's JSON <c>data</c> array (flat or nested, row-major) into its wire bytes, as
/// binary data would have brought them, checking each value against the datatype and the count
/// against the shape. Every problem is an <see cref="FabrikErrorKind.InvalidResponse"/> naming the output.
/// </summary>
internal static class JsonTensorReader
{
    /// <summary>Reads the array at <paramref name="reader"/> (positioned on its start) holding
    /// <paramref name="count"/> elements; <paramref name="rawLength"/> is the array's length in the
    /// JSON text, which bounds the bytes BYTES elements take.</summary>
    public static ReadOnlyMemory<byte> Read(ref Utf8JsonReader reader, string name, TensorDataType type, long count, long rawLength)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw Invalid($"output '{name}': 'data' must be an array");
        }
        // Each element takes at least one byte of the text, so a shape claiming more than the text
        // holds is refused before anything is allocated for it.
        if (count > rawLength)
        {
            throw Invalid($"output '{name}': its shape gives {count} elements, more than its {rawLength}-byte 'data' can hold");
        }
        var capacity = type == TensorDataType.Bytes ? rawLength + 4 * count : count * type.ElementSize();
        if (capacity > Array.MaxLength)
        {
            throw Invalid($"output '{name}' is larger than {Array.MaxLength} bytes");
        }
        var data = new byte[capacity];
        var depth = reader.CurrentDepth;
        long index = 0;
        var offset = 0;
        while (reader.Read() && !(reader.TokenType == JsonTokenType.EndArray && reader.CurrentDepth == depth))
        {
            if (reader.TokenType is JsonTokenType.StartArray or JsonTokenType.EndArray)
            {
                continue;
            }
            if (index >= count)
            {
                throw Invalid($"output '{name}': 'data' holds more than the {count} elements its shape gives");
            }
            if (type == TensorDataType.Bytes)
            {
                if (reader.TokenType != JsonTokenType.String)
                {
                    throw Invalid($"output '{name}': element {index} of BYTES data must be a string");
                }
                var length = reader.CopyString(data.AsSpan(offset + 4));
                BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(offset), length);
                offset += 4 + length;
            }
            else
            {
                WriteElement(ref reader, name, type, index, data.AsSpan((int)(index * type.ElementSize())));
            }
            index++;
        }
        if (index != count)
        {
            throw Invalid($"output '{name}': its shape gives {count} elements but 'data' holds {index}");
        }
        return type == TensorDataType.Bytes ? data.AsMemory(0, offset) : data;
    }

    private static void WriteElement(ref Utf8JsonReader reader, string name, TensorDataType type, long index, Span<byte> destination)
    {
        switch (type)
        {
            case TensorDataType.Bool:
                destination[0] = reader.TokenType switch
                {
                    JsonTokenType.True => 1,
                    JsonTokenType.False => 0,
                    JsonTokenType.Number when reader.TryGetByte(out var bit) && bit <= 1 => bit,
                    _ => throw Element(name, type, index),
                };
                break;
            case TensorDataType.UInt8:
                destination[0] = (byte)Unsigned(ref reader, name, type, index, byte.MaxValue);
                break;
            case TensorDataType.UInt16:
                BinaryPrimitives.WriteUInt16LittleEndian(destination, (ushort)Unsigned(ref reader, name, type, index, ushort.MaxValue));
                break;
            case TensorDataType.UInt32:
                BinaryPrimitives.WriteUInt32LittleEndian(destination, (uint)Unsigned(ref reader, name, type, index, uint.MaxValue));
                break;
            case TensorDataType.UInt64:
                BinaryPrimitives.WriteUInt64LittleEndian(destination, Unsigned(ref reader, name, type, index, ulong.MaxValue));
                break;
            case TensorDataType.Int8:
                destination[0] = unchecked((byte)(sbyte)Signed(ref reader, name, type, index, sbyte.MinValue, sbyte.MaxValue));
                break;
            case TensorDataType.Int16:
                BinaryPrimitives.WriteInt16LittleEndian(destination, (short)Signed(ref reader, name, type, index, short.MinValue, short.MaxValue));
                break;
            case TensorDataType.Int32:
                BinaryPrimitives.WriteInt32LittleEndian(destination, (int)Signed(ref reader, name, type, index, int.MinValue, int.MaxValue));
                break;
            case TensorDataType.Int64:
                BinaryPrimitives.WriteInt64LittleEndian(destination, Signed(ref reader, name, type, index, long.MinValue, long.MaxValue));
                break;
            case TensorDataType.Fp16:
                BinaryPrimitives.WriteHalfLittleEndian(destination, (Half)Float(ref reader, name, type, index));
                break;
            case TensorDataType.Bf16:
                BinaryPrimitives.WriteUInt16LittleEndian(destination, BFloat16.FromSingle((float)Float(ref reader, name, type, index)));
                break;
            case TensorDataType.Fp32:
                BinaryPrimitives.WriteSingleLittleEndian(destination, (float)Float(ref reader, name, type, index));
                break;
            default:
                BinaryPrimitives.WriteDoubleLittleEndian(destination, Float(ref reader, name, type, index));
                break;
        }
    }

    private static ulong Unsigned(ref Utf8JsonReader reader, string name, TensorDataType type, long index, ulong max) =>
        reader.TokenType == JsonTokenType.Number && reader.TryGetUInt64(out var value) && value <= max ? value : throw Element(name, type, index);

    private static long Signed(ref Utf8JsonReader reader, string name, TensorDataType type, long index, long min, long max) =>
        reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var value) && value >= min && value <= max ? value : throw Element(name, type, index);

    private static double Float(ref Utf8JsonReader reader, string name, TensorDataType type, long index) => reader.TokenType switch
    {
        JsonTokenType.Number when reader.TryGetDouble(out var value) => value,
        JsonTokenType.String when !reader.ValueIsEscaped && NonFiniteLiterals.Parse(reader.ValueSpan) is { } value => value,
        _ => throw Element(name, type, index),
    };

    private static FabrikException Element(string name, TensorDataType type, long index) =>
        Invalid($"output '{name}': element {index} of 'data' is not a valid {type.WireName()} value");

    private static FabrikException Invalid(string message) => HttpErrors.InvalidResponse(message);

    /// <summary>The element count a shape gives, or an invalid-response error naming the output.</summary>
    public static long ElementCount(string name, ReadOnlySpan<long> shape) =>
        TensorLayout.TryElementCount(shape, out var count)
            ? count
            : throw Invalid($"output '{name}' has shape [{string.Join(",", shape.ToArray())}], with a negative dimension or more than {int.MaxValue} elements");
}
