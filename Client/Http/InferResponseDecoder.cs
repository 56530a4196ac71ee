using System.Text;
using System.Text.Json;

namespace Fabrik.Client.Http;

/// <summary>
/// Decodes the answer of <c>POST /v2/models/{m}/infer</c>: the JSON (or, with the binary tensor
/// extension, the JSON header and the outputs' bytes after it, in the order of the outputs that
/// declare <c>binary_data_size</c>). Binary outputs are slices of the body, not copies. Anything
/// that does not parse or does not add up is an <see cref="FabrikErrorKind.InvalidResponse"/>
/// naming what was wrong.
/// </summary>
internal static class InferResponseDecoder
{
    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 64 };

    // More than any model's output has; Triton's own limit on dimensions is far below it.
    private const int MaximumDimensions = 64;

    /// <summary>Decodes <paramref name="body"/>; the result owns it when an output lies in it, and
    /// otherwise it is disposed here.</summary>
    public static InferResult Decode(ResponseBody body, long? headerLength, InferRequest? request = null)
    {
        var owned = false;
        try
        {
            if (headerLength > body.Length)
            {
                throw HttpErrors.InvalidResponse($"{InferRequestContent.HeaderLengthName} is {headerLength} but the body has only {body.Length} bytes");
            }
            var jsonLength = (int)(headerLength ?? body.Length);
            var json = body.Memory[..jsonLength];
            Decoded decoded;
            try
            {
                decoded = Parse(json.Span, request);
            }
            catch (JsonException e) when (NonFiniteLiterals.TryQuote(json.Span) is { } quoted)
            {
                try
                {
                    decoded = Parse(quoted, request);
                }
                catch (JsonException)
                {
                    throw HttpErrors.InvalidResponse($"the JSON is malformed: {e.Message}", e);
                }
            }
            catch (JsonException e)
            {
                throw HttpErrors.InvalidResponse($"the JSON is malformed: {e.Message}", e);
            }

            var outputs = new InferOutput[decoded.Outputs.Count];
            var binary = body.Memory[jsonLength..];
            for (var i = 0; i < outputs.Length; i++)
            {
                var output = decoded.Outputs[i];
                var data = output.Data;
                if (output.Region is { } region && output.BinarySize is null && !output.HasData)
                {
                    outputs[i] = new InferOutput(output.Name, output.Datatype, output.Shape, region, output.RegionBytes);
                    continue;
                }
                if (output.BinarySize is { } size)
                {
                    if (size > binary.Length)
                    {
                        throw HttpErrors.InvalidResponse($"output '{output.Name}' declares binary_data_size {size} but only {binary.Length} bytes of binary data remain");
                    }
                    data = binary[..(int)size];
                    binary = binary[(int)size..];
                    owned = true;
                }
                else if (output.HasData is false)
                {
                    throw HttpErrors.InvalidResponse($"output '{output.Name}' has neither 'data' nor parameters.binary_data_size");
                }
                if (InferOutput.CheckLayout(output.Name, output.Datatype, output.Shape, data.Span) is { } problem)
                {
                    throw HttpErrors.InvalidResponse(problem);
                }
                outputs[i] = new InferOutput(output.Name, output.Datatype, output.Shape, data);
            }
            if (binary.Length > 0)
            {
                throw HttpErrors.InvalidResponse($"{binary.Length} bytes of binary data follow the outputs that declare any");
            }
            return new InferResult(decoded.ModelName, decoded.ModelVersion, decoded.Id, outputs, decoded.Parameters, owned ? body : null);
        }
        finally
        {
            if (!owned)
            {
                body.Dispose();
            }
        }
    }

    private static Decoded Parse(ReadOnlySpan<byte> json, InferRequest? request)
    {
        var reader = new Utf8JsonReader(json, ReaderOptions);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            throw HttpErrors.InvalidResponse("the body is not a JSON object");
        }
        var decoded = new Decoded();
        while (NextProperty(ref reader))
        {
            if (reader.ValueTextEquals("model_name"u8))
            {
                decoded.ModelName = ReadString(ref reader, "model_name", request?.ModelName);
            }
            else if (reader.ValueTextEquals("model_version"u8))
            {
                decoded.ModelVersion = ReadString(ref reader, "model_version", request?.ModelVersion);
            }
            else if (reader.ValueTextEquals("id"u8))
            {
                decoded.Id = ReadString(ref reader, "id");
            }
            else if (reader.ValueTextEquals("parameters"u8))
            {
                reader.Read();
                decoded.Parameters = JsonParameters.Read(ref reader, "parameters");
            }
            else if (reader.ValueTextEquals("outputs"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.StartArray)
                {
                    throw HttpErrors.InvalidResponse("'outputs' must be an array");
                }
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    decoded.Outputs.Add(ParseOutput(ref reader, decoded.Outputs.Count));
                }
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
        return decoded;
    }

    private static DecodedOutput ParseOutput(ref Utf8JsonReader reader, int index)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw HttpErrors.InvalidResponse($"outputs[{index}] must be an object");
        }
        string? name = null;
        TensorDataType? type = null;
        long[]? shape = null;
        long? binarySize = null;
        string? region = null;
        long regionBytes = 0;
        var data = default(Utf8JsonReader);
        long dataLength = -1;
        while (NextProperty(ref reader))
        {
            if (reader.ValueTextEquals("name"u8))
            {
                name = ReadString(ref reader, $"outputs[{index}].name");
            }
            else if (reader.ValueTextEquals("datatype"u8))
            {
                type = ReadDatatype(ref reader, index, name);
            }
            else if (reader.ValueTextEquals("shape"u8))
            {
                shape = ReadShape(ref reader, index);
            }
            else if (reader.ValueTextEquals("parameters"u8))
            {
                reader.Read();
                ReadOutputParameters(ref reader, index, ref binarySize, ref region, ref regionBytes);
            }
            else if (reader.ValueTextEquals("data"u8))
            {
                // The datatype and shape may come after the data: remember where it is and read it last.
                reader.Read();
                data = reader;
                var start = reader.TokenStartIndex;
                reader.Skip();
                dataLength = reader.BytesConsumed - start;
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
        if (name is null || type is null || shape is null)
        {
            throw HttpErrors.InvalidResponse($"outputs[{index}] lacks {(name is null ? "'name'" : type is null ? "'datatype'" : "'shape'")}");
        }
        var output = new DecodedOutput(name, type.Value, shape, binarySize, dataLength >= 0) { Region = region, RegionBytes = regionBytes };
        if (binarySize is null && dataLength >= 0)
        {
            output.Data = JsonTensorReader.Read(ref data, name, type.Value, JsonTensorReader.ElementCount(name, shape), dataLength);
        }
        return output;
    }

    /// <summary>Reads the datatype's wire name without making a string of it (but to name an unknown one).</summary>
    private static TensorDataType ReadDatatype(ref Utf8JsonReader reader, int index, string? name)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.String)
        {
            throw HttpErrors.InvalidResponse($"'outputs[{index}].datatype' must be a string");
        }
        // An escaped name (legal JSON, though no server writes one) is unescaped first.
        return (reader.ValueIsEscaped ? TensorDataTypes.TryParse(reader.GetString(), out var type) : TensorDataTypes.TryParse(reader.ValueSpan, out type))
            ? type
            : throw HttpErrors.InvalidResponse($"output '{name ?? $"outputs[{index}]"}' has datatype '{reader.GetString()}', which the protocol does not define");
    }

    /// <summary>An output's parameters, read in passing (no dictionary): the binary extension's
    /// size, and the shared-memory extension's region and the bytes written into it; others skipped.</summary>
    private static void ReadOutputParameters(ref Utf8JsonReader reader, int index, ref long? binarySize, ref string? region, ref long regionBytes)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw HttpErrors.InvalidResponse($"'outputs[{index}].parameters' must be an object");
        }
        while (NextProperty(ref reader))
        {
            if (reader.ValueTextEquals("binary_data_size"u8))
            {
                reader.Read();
                binarySize = ByteCount(ref reader, index, "binary_data_size", int.MaxValue);
            }
            else if (reader.ValueTextEquals("shared_memory_region"u8))
            {
                // Written into a region: the parameters name it and the bytes written.
                reader.Read();
                region = reader.TokenType == JsonTokenType.String && reader.GetString() is { Length: > 0 } named
                    ? named
                    : throw HttpErrors.InvalidResponse($"outputs[{index}].parameters.shared_memory_region must be a region name");
            }
            else if (reader.ValueTextEquals("shared_memory_byte_size"u8))
            {
                reader.Read();
                regionBytes = ByteCount(ref reader, index, "shared_memory_byte_size", long.MaxValue);
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
    }

    private static long ByteCount(ref Utf8JsonReader reader, int index, string parameter, long maximum) =>
        reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var count) && count >= 0 && count <= maximum
            ? count
            : throw HttpErrors.InvalidResponse($"outputs[{index}].parameters.{parameter} must be a byte count, got {Encoding.UTF8.GetString(reader.ValueSpan)}");

    private static long[] ReadShape(ref Utf8JsonReader reader, int index)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw HttpErrors.InvalidResponse($"outputs[{index}].shape must be an array of integers");
        }
        // Shapes have a handful of dimensions: gathered on the stack, then one array.
        Span<long> dims = stackalloc long[MaximumDimensions];
        var count = 0;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (count == MaximumDimensions)
            {
                throw HttpErrors.InvalidResponse($"outputs[{index}].shape has more than {MaximumDimensions} dimensions");
            }
            dims[count++] = reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var dim) && dim >= 0
                ? dim
                : throw HttpErrors.InvalidResponse($"outputs[{index}].shape must hold non-negative integers");
        }
        return dims[..count].ToArray();
    }

    /// <summary>Moves to the next property name of the current object; false at its end.</summary>
    internal static bool NextProperty(ref Utf8JsonReader reader)
    {
        reader.Read();
        return reader.TokenType switch
        {
            JsonTokenType.PropertyName => true,
            JsonTokenType.EndObject => false,
            _ => throw HttpErrors.InvalidResponse($"unexpected {reader.TokenType} in an object"),
        };
    }

    /// <summary>A string value; <paramref name="expected"/> itself when the value equals it (the
    /// request's model name, say), so that the answer does not allocate its copy.</summary>
    private static string ReadString(ref Utf8JsonReader reader, string what, string? expected = null)
    {
        reader.Read();
        return reader.TokenType != JsonTokenType.String ? throw HttpErrors.InvalidResponse($"'{what}' must be a string")
            : expected is not null && reader.ValueTextEquals(expected) ? expected
            : reader.GetString()!;
    }

    private sealed class Decoded
    {
        public string ModelName { get; set; } = "";

        public string ModelVersion { get; set; } = "";

        public string? Id { get; set; }

        public IReadOnlyDictionary<string, ParameterValue>? Parameters { get; set; }

        public List<DecodedOutput> Outputs { get; } = [];
    }

    private sealed class DecodedOutput(string name, TensorDataType datatype, long[] shape, long? binarySize, bool hasData)
    {
        public string Name { get; } = name;

        public TensorDataType Datatype { get; } = datatype;

        public long[] Shape { get; } = shape;

        public long? BinarySize { get; } = binarySize;

        public bool HasData { get; } = hasData;

        public ReadOnlyMemory<byte> Data { get; set; }

        public string? Region { get; init; }

        public long RegionBytes { get; init; }
    }
}
