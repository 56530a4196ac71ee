using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Unicode;

namespace Fabrik.Client.Http;

/// <summary>Writes a tensor's elements as the JSON <c>data</c> array of the KServe v2 HTTP
/// protocol, from their wire bytes. Non-finite floats are written as the bare literals
/// <c>NaN</c>, <c>Infinity</c> and <c>-Infinity</c>, which Triton and Fabrik both read.</summary>
internal static class JsonTensorWriter
{
    /// <summary>Whether every element of a BYTES tensor is valid UTF-8, and so can be a JSON string.</summary>
    public static bool IsUtf8Text(ReadOnlySpan<byte> data)
    {
        while (data.Length >= 4)
        {
            var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(data);
            if (!Utf8.IsValid(data.Slice(4, length)))
            {
                return false;
            }
            data = data[(4 + length)..];
        }
        return true;
    }

    /// <summary>Writes the elements of <paramref name="data"/> (wire bytes of <paramref name="type"/>) as JSON values.</summary>
    public static void WriteElements(Utf8JsonWriter json, TensorDataType type, ReadOnlySpan<byte> data)
    {
        switch (type)
        {
            case TensorDataType.Bool:
                foreach (var value in data)
                {
                    json.WriteBooleanValue(value != 0);
                }
                break;
            case TensorDataType.UInt8:
                foreach (var value in data)
                {
                    json.WriteNumberValue(value);
                }
                break;
            case TensorDataType.Int8:
                foreach (var value in MemoryMarshal.Cast<byte, sbyte>(data))
                {
                    json.WriteNumberValue(value);
                }
                break;
            case TensorDataType.UInt16:
                foreach (var value in MemoryMarshal.Cast<byte, ushort>(data))
                {
                    json.WriteNumberValue(value);
                }
                break;
            case TensorDataType.Int16:
                foreach (var value in MemoryMarshal.Cast<byte, short>(data))
                {
                    json.WriteNumberValue(value);
                }
                break;
            case TensorDataType.UInt32:
                foreach (var value in MemoryMarshal.Cast<byte, uint>(data))
                {
                    json.WriteNumberValue(value);
                }
                break;
            case TensorDataType.Int32:
                foreach (var value in MemoryMarshal.Cast<byte, int>(data))
                {
                    json.WriteNumberValue(value);
                }
                break;
            case TensorDataType.UInt64:
                foreach (var value in MemoryMarshal.Cast<byte, ulong>(data))
                {
                    json.WriteNumberValue(value);
                }
                break;
            case TensorDataType.Int64:
                foreach (var value in MemoryMarshal.Cast<byte, long>(data))
                {
                    json.WriteNumberValue(value);
                }
                break;
            case TensorDataType.Fp16:
                foreach (var value in MemoryMarshal.Cast<byte, Half>(data))
                {
                    WriteFloat(json, (double)value);
                }
                break;
            case TensorDataType.Bf16:
                foreach (var value in MemoryMarshal.Cast<byte, ushort>(data))
                {
                    WriteFloat(json, BFloat16.ToSingle(value));
                }
                break;
            case TensorDataType.Fp32:
                foreach (var value in MemoryMarshal.Cast<byte, float>(data))
                {
                    if (float.IsFinite(value))
                    {
                        json.WriteNumberValue(value);
                    }
                    else
                    {
                        WriteFloat(json, value);
                    }
                }
                break;
            case TensorDataType.Fp64:
                foreach (var value in MemoryMarshal.Cast<byte, double>(data))
                {
                    WriteFloat(json, value);
                }
                break;
            default:
                while (data.Length >= 4)
                {
                    var length = (int)BinaryPrimitives.ReadUInt32LittleEndian(data);
                    json.WriteStringValue(data.Slice(4, length));
                    data = data[(4 + length)..];
                }
                break;
        }
    }

    private static void WriteFloat(Utf8JsonWriter json, double value)
    {
        if (double.IsFinite(value))
        {
            json.WriteNumberValue(value);
        }
        else
        {
            json.WriteRawValue(double.IsNaN(value) ? "NaN"u8 : value > 0 ? "Infinity"u8 : "-Infinity"u8, skipInputValidation: true);
        }
    }
}
