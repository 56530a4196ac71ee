using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
using Fabrik.Configuration;
using Fabrik.Errors;
using Fabrik.Tensors;

using static Fabrik.Protocol.RequestValidation;

namespace Fabrik.Protocol.Http;

/// <summary>
/// The "data" of one JSON input, flat or nested, decoded into a pooled tensor buffer of the
/// input's datatype. Elements are counted before the buffer is rented, so a request never
/// reserves more memory than the values it carries.
/// </summary>
internal static class JsonTensorData
{
    /// <summary>Decodes the array <paramref name="reader"/> is positioned at. The caller owns the
    /// returned buffer.</summary>
    /// <exception cref="InferenceException">InvalidArgument, naming the input and the element.</exception>
    public static TensorBuffer Decode(ref Utf8JsonReader reader, TensorConfig config, long[] shape, long elementCount, long byteLength, TensorMemoryPool pool)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw Invalid($"'data' of input '{config.Name}' must be a JSON array");
        }
        if (config.DataType == DataType.Bytes)
        {
            return DecodeBytes(reader, config, shape, elementCount, pool);
        }
        // The elements are counted before the buffer is rented, so a request never reserves more
        // memory than the values it carries.
        if (CountElements(reader) is var supplied && supplied != elementCount)
        {
            throw CountMismatch(config.Name, elementCount, supplied);
        }
        return DecodeNumbers(reader, config, shape, elementCount, byteLength, pool);
    }

    private static TensorBuffer DecodeNumbers(Utf8JsonReader reader, TensorConfig config, long[] shape, long elementCount, long byteLength, TensorMemoryPool pool)
    {
        var type = config.DataType;
        var buffer = new TensorBuffer(pool, type, shape, elementCount, byteLength);
        try
        {
            var bytes = buffer.Bytes;
            var depth = reader.CurrentDepth;
            long count = 0;
            while (reader.Read() && reader.CurrentDepth > depth)
            {
                if (reader.TokenType is JsonTokenType.StartArray or JsonTokenType.EndArray)
                {
                    continue;
                }
                if (count < elementCount && !TryWriteElement(ref reader, type, bytes, count))
                {
                    throw Invalid($"input '{config.Name}': element {count} is not a valid {type.WireName()} value");
                }
                count++;
            }
            if (count != elementCount)
            {
                throw CountMismatch(config.Name, elementCount, count);
            }
            return buffer;
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
    }

    private static bool TryWriteElement(ref Utf8JsonReader reader, DataType type, Span<byte> bytes, long index)
    {
        if (type == DataType.Bool)
        {
            if (reader.TokenType is not (JsonTokenType.True or JsonTokenType.False))
            {
                return false;
            }
            bytes[(int)index] = reader.TokenType == JsonTokenType.True ? (byte)1 : (byte)0;
            return true;
        }
        if (reader.TokenType != JsonTokenType.Number)
        {
            return reader.TokenType == JsonTokenType.String && NonFiniteJsonLiterals.TryWrite(ref reader, type, bytes, index);
        }
        var i = (int)index;
        switch (type)
        {
            case DataType.UInt8:
                if (!reader.TryGetByte(out var u8)) { return false; }
                bytes[i] = u8;
                return true;
            case DataType.Int8:
                if (!reader.TryGetSByte(out var i8)) { return false; }
                bytes[i] = (byte)i8;
                return true;
            case DataType.UInt16:
                if (!reader.TryGetUInt16(out var u16)) { return false; }
                MemoryMarshal.Cast<byte, ushort>(bytes)[i] = u16;
                return true;
            case DataType.Int16:
                if (!reader.TryGetInt16(out var i16)) { return false; }
                MemoryMarshal.Cast<byte, short>(bytes)[i] = i16;
                return true;
            case DataType.UInt32:
                if (!reader.TryGetUInt32(out var u32)) { return false; }
                MemoryMarshal.Cast<byte, uint>(bytes)[i] = u32;
                return true;
            case DataType.Int32:
                if (!reader.TryGetInt32(out var i32)) { return false; }
                MemoryMarshal.Cast<byte, int>(bytes)[i] = i32;
                return true;
            case DataType.UInt64:
                if (!reader.TryGetUInt64(out var u64)) { return false; }
                MemoryMarshal.Cast<byte, ulong>(bytes)[i] = u64;
                return true;
            case DataType.Int64:
                if (!reader.TryGetInt64(out var i64)) { return false; }
                MemoryMarshal.Cast<byte, long>(bytes)[i] = i64;
                return true;
            case DataType.Fp32:
                if (!reader.TryGetSingle(out var f32)) { return false; }
                MemoryMarshal.Cast<byte, float>(bytes)[i] = f32;
                return true;
            case DataType.Fp64:
                if (!reader.TryGetDouble(out var f64)) { return false; }
                MemoryMarshal.Cast<byte, double>(bytes)[i] = f64;
                return true;
            case DataType.Fp16:
                if (!reader.TryGetDouble(out var f16)) { return false; }
                MemoryMarshal.Cast<byte, Half>(bytes)[i] = (Half)f16;
                return true;
            case DataType.Bf16:
                if (!reader.TryGetSingle(out var bf16)) { return false; }
                MemoryMarshal.Cast<byte, ushort>(bytes)[i] = BFloat16.FromSingle(bf16);
                return true;
            default:
                return false;
        }
    }

    private static TensorBuffer DecodeBytes(Utf8JsonReader reader, TensorConfig config, long[] shape, long elementCount, TensorMemoryPool pool)
    {
        // First pass: count the elements and bound their size (an escaped string is never
        // shorter than its UTF-8 text), so the buffer is rented once.
        var sizing = reader;
        var depth = sizing.CurrentDepth;
        long count = 0, bound = 0;
        while (sizing.Read() && sizing.CurrentDepth > depth)
        {
            if (sizing.TokenType is JsonTokenType.StartArray or JsonTokenType.EndArray)
            {
                continue;
            }
            if (sizing.TokenType != JsonTokenType.String)
            {
                throw Invalid($"input '{config.Name}': element {count} is not a string (BYTES elements travel as JSON strings)");
            }
            bound += 4 + (sizing.HasValueSequence ? sizing.ValueSequence.Length : sizing.ValueSpan.Length);
            count++;
        }
        if (count != elementCount)
        {
            throw CountMismatch(config.Name, elementCount, count);
        }
        if (bound > TensorMemoryPool.MaximumLength)
        {
            throw Invalid($"input '{config.Name}' is larger than the {TensorMemoryPool.MaximumLength}-byte tensor limit");
        }

        var buffer = new TensorBuffer(pool, DataType.Bytes, shape, elementCount, bound);
        try
        {
            var written = 0;
            var index = 0;
            var destination = buffer.Array.AsSpan(0, (int)bound);
            while (reader.Read() && reader.CurrentDepth > depth)
            {
                if (reader.TokenType == JsonTokenType.String)
                {
                    var length = CopyUtf8(ref reader, destination[(written + 4)..], config.Name, index++);
                    BinaryPrimitives.WriteUInt32LittleEndian(destination[written..], (uint)length);
                    written += 4 + length;
                }
            }
            buffer.SetByteLength(written);
            return buffer;
        }
        catch
        {
            // The buffer is the pool's until it is handed out: a string that fails to decode
            // (invalid UTF-8) must not keep it.
            buffer.Dispose();
            throw;
        }
    }

    /// <summary>Unescapes one JSON string into <paramref name="destination"/>; text that is not
    /// UTF-8 is the client's error, said in our words rather than the JSON reader's.</summary>
    private static int CopyUtf8(ref Utf8JsonReader reader, Span<byte> destination, string input, int index)
    {
        try
        {
            return reader.CopyString(destination);
        }
        catch (InvalidOperationException)
        {
            throw Invalid($"input '{input}': element {index} is not valid UTF-8 text");
        }
    }

    private static long CountElements(Utf8JsonReader reader)
    {
        var depth = reader.CurrentDepth;
        long count = 0;
        while (reader.Read() && reader.CurrentDepth > depth)
        {
            if (reader.TokenType is not (JsonTokenType.StartArray or JsonTokenType.EndArray))
            {
                count++;
            }
        }
        return count;
    }
}
