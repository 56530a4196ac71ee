using System.Text.Json;
using Fabrik.Inference;
using Fabrik.Protocol.SharedMemory;

using static Fabrik.Protocol.RequestValidation;

namespace Fabrik.Protocol.Http;

/// <summary>
/// The <c>parameters</c> object of one input or requested output in a JSON inference request:
/// the binary tensor extension's binary_data_size and binary_data, and the shared-memory
/// extension's shared_memory_region, shared_memory_offset and shared_memory_byte_size. Other
/// parameters are skipped.
/// </summary>
internal static class JsonTensorParameters
{
    /// <summary>What an input's parameters say.</summary>
    public readonly record struct InputParameters(long? BinarySize, SharedMemoryRange? Region);

    /// <summary>Reads an input's parameters (the reader is on their property name).</summary>
    public static InputParameters ReadInput(ref Utf8JsonReader reader, string? name)
    {
        ExpectObject(ref reader, "input", name);
        long? binarySize = null;
        string? region = null;
        long? offset = null, byteSize = null;
        while (NextProperty(ref reader))
        {
            if (reader.ValueTextEquals("binary_data_size"u8))
            {
                binarySize = NonNegative(ref reader, "binary_data_size", "input", name);
            }
            else if (!ReadSharedMemory(ref reader, "input", name, ref region, ref offset, ref byteSize))
            {
                reader.Read();
                reader.Skip();
            }
        }
        return new InputParameters(binarySize, SharedMemoryTensors.Range(name ?? "", region, offset, byteSize));
    }

    /// <summary>Reads a requested output's parameters: binary_data when present, and its region.</summary>
    public static (bool? Binary, SharedMemoryRange? Region) ReadOutput(ref Utf8JsonReader reader, string? name)
    {
        ExpectObject(ref reader, "output", name);
        bool? binary = null;
        string? region = null;
        long? offset = null, byteSize = null;
        while (NextProperty(ref reader))
        {
            if (reader.ValueTextEquals("binary_data"u8))
            {
                reader.Read();
                binary = reader.TokenType switch
                {
                    JsonTokenType.True => true,
                    JsonTokenType.False => false,
                    _ => throw Invalid($"binary_data of output '{name}' must be true or false"),
                };
            }
            else if (reader.ValueTextEquals("classification"u8))
            {
                throw Invalid($"output '{name}' asks for classification, which Fabrik does not support");
            }
            else if (!ReadSharedMemory(ref reader, "output", name, ref region, ref offset, ref byteSize))
            {
                reader.Read();
                reader.Skip();
            }
        }
        return (binary, SharedMemoryTensors.Range(name ?? "", region, offset, byteSize));
    }

    /// <summary>Reads one shared-memory parameter when the reader is on one; false otherwise.</summary>
    private static bool ReadSharedMemory(ref Utf8JsonReader reader, string kind, string? name, ref string? region, ref long? offset, ref long? byteSize)
    {
        if (reader.ValueTextEquals("shared_memory_region"u8))
        {
            reader.Read();
            region = reader.TokenType == JsonTokenType.String ? reader.GetString() : throw Invalid($"shared_memory_region of {kind} '{name}' must be a string");
        }
        else if (reader.ValueTextEquals("shared_memory_offset"u8))
        {
            offset = NonNegative(ref reader, "shared_memory_offset", kind, name);
        }
        else if (reader.ValueTextEquals("shared_memory_byte_size"u8))
        {
            byteSize = NonNegative(ref reader, "shared_memory_byte_size", kind, name);
        }
        else
        {
            return false;
        }
        return true;
    }

    private static long NonNegative(ref Utf8JsonReader reader, string parameter, string kind, string? name)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out var value) || value < 0)
        {
            throw Invalid($"{parameter} of {kind} '{name}' must be a non-negative integer");
        }
        return value;
    }

    private static void ExpectObject(ref Utf8JsonReader reader, string kind, string? name)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw Invalid($"'parameters' of {kind} '{name}' must be a JSON object");
        }
    }

    private static bool NextProperty(ref Utf8JsonReader reader)
    {
        reader.Read();
        return reader.TokenType == JsonTokenType.PropertyName;
    }
}
