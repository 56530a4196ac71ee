using System.Buffers;
using System.Text.Json;
using Fabrik.Errors;
using Fabrik.Inference;
using Fabrik.Models;
using Fabrik.Protocol.SharedMemory;
using Fabrik.Tensors;

using static Fabrik.Protocol.RequestValidation;

namespace Fabrik.Protocol.Http;

/// <summary>
/// Decodes a KServe v2 JSON inference request straight into pooled tensor buffers and validates
/// it against the model: names, datatypes, shapes and element counts. The body is read as a
/// whole (see <see cref="RequestBody"/>: where it lies in the request pipe, or gathered once into a
/// pooled array when it took several reads) because JSON members may come in any order:
/// an input's "data" may precede its "shape". Element data in JSON is decoded by
/// <see cref="JsonTensorData"/>; inputs with binary_data_size take their bytes from the
/// <see cref="BinaryTensorSection"/> after the JSON header. Raw mode has its own reader,
/// <see cref="RawInferenceRequestReader"/>.
/// </summary>
internal static class JsonInferenceRequestReader
{
    private static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = 64, CommentHandling = JsonCommentHandling.Disallow };

    /// <summary>Decodes <paramref name="body"/> for <paramref name="model"/>. With the binary
    /// tensor extension, <paramref name="jsonLength"/> (the Inference-Header-Content-Length header)
    /// splits the body into the JSON header and the binary tensor data that follows it. The caller
    /// owns the returned request and disposes it. Inputs and outputs in shared memory go through
    /// <paramref name="sharedMemory"/> (without a registry they are refused).</summary>
    /// <exception cref="InferenceException">InvalidArgument, naming what is wrong.</exception>
    public static InferenceRequest Read(
        ReadOnlySequence<byte> body, long? jsonLength, LoadedModel model, TensorMemoryPool pool, CancellationToken cancellation, SharedMemoryClient sharedMemory = default,
        RequestTenant? tenant = null)
    {
        var config = model.Config;
        var inputs = new TensorBuffer?[config.Inputs.Length];
        string? id = null;
        List<(int Index, bool? Binary, SharedMemoryRange? Region)>? requestedOutputs = null;
        var binaryDataOutput = false;
        Dictionary<string, object>? parameters = null;
        if (jsonLength > body.Length)
        {
            throw Invalid($"Inference-Header-Content-Length is {jsonLength} but the body has only {body.Length} bytes");
        }
        var json = jsonLength is { } length ? body.Slice(0, length) : body;
        var binary = new BinaryTensorSection(jsonLength is { } start ? body.Slice(start) : default);
        try
        {
            var reader = new Utf8JsonReader(json, ReaderOptions);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                throw Invalid("the request body must be a JSON object");
            }
            var sawInputs = false;
            while (ReadProperty(ref reader))
            {
                if (reader.ValueTextEquals("id"u8))
                {
                    reader.Read();
                    id = reader.TokenType == JsonTokenType.String ? reader.GetString() : throw Invalid("'id' must be a string");
                }
                else if (reader.ValueTextEquals("inputs"u8))
                {
                    sawInputs = true;
                    ExpectArray(ref reader, "inputs");
                    while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                    {
                        ReadInput(ref reader, model, inputs, pool, ref binary, sharedMemory);
                    }
                }
                else if (reader.ValueTextEquals("outputs"u8))
                {
                    requestedOutputs = ReadRequestedOutputs(ref reader, model, sharedMemory);
                }
                else if (reader.ValueTextEquals("parameters"u8))
                {
                    binaryDataOutput = ReadRequestParameters(ref reader, ref parameters);
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }
            if (reader.Read())
            {
                throw Invalid("unexpected data after the JSON object; binary tensor data needs the Inference-Header-Content-Length header");
            }
            if (!sawInputs)
            {
                throw Invalid("the request has no 'inputs'");
            }
            if (binary.Remaining > 0)
            {
                throw Invalid($"the body holds {binary.Remaining} bytes of binary data that no input's binary_data_size accounts for");
            }
            var batchSize = CheckCompleteness(model, inputs);
            return new InferenceRequest(inputs, batchSize)
            {
                Id = id,
                RequestedOutputs = requestedOutputs?.Select(output => output.Index).ToArray(),
                BinaryOutputs = BinaryOutputFlags(config.Outputs.Length, requestedOutputs, binaryDataOutput),
                OutputRegions = OutputRegions(config.Outputs.Length, requestedOutputs),
                Parameters = parameters ?? InferenceRequest.NoParameters,
                Tenant = tenant,
                Cancellation = cancellation,
            };
        }
        catch (Exception e)
        {
            foreach (var input in inputs)
            {
                input?.Dispose();
            }
            if (e is JsonException && NonFiniteJsonLiterals.TryQuote(json, body.Slice(json.Length)) is { } quoted)
            {
                using (quoted)
                {
                    return Read(quoted.Body, jsonLength is null ? null : quoted.JsonLength, model, pool, cancellation, sharedMemory);
                }
            }
            if (e is TensorPoolExhaustedException)
            {
                throw InferenceException.Overloaded(e.Message);
            }
            if (e is JsonException or InvalidOperationException or FormatException)
            {
                throw Invalid(e is JsonException syntax ? JsonSyntaxError.Describe(json, syntax) : JsonSyntaxError.WrongValueKind());
            }
            throw;
        }
    }

    /// <summary>Which outputs travel as binary data; an output written to shared memory never does.</summary>
    private static bool[]? BinaryOutputFlags(int outputCount, List<(int Index, bool? Binary, SharedMemoryRange? Region)>? requested, bool binaryDataOutput)
    {
        var explicitBinary = requested?.Any(output => output.Binary == true && output.Region is null) == true;
        if (!binaryDataOutput && !explicitBinary)
        {
            return null;
        }
        var flags = new bool[outputCount];
        Array.Fill(flags, binaryDataOutput);
        foreach (var (index, binary, region) in requested ?? [])
        {
            flags[index] = region is null && (binary ?? binaryDataOutput);
        }
        return flags;
    }

    private static SharedMemoryRange?[]? OutputRegions(int outputCount, List<(int Index, bool? Binary, SharedMemoryRange? Region)>? requested)
    {
        if (requested is null || !requested.Exists(output => output.Region is not null))
        {
            return null;
        }
        var regions = new SharedMemoryRange?[outputCount];
        foreach (var (index, _, region) in requested)
        {
            regions[index] = region;
        }
        return regions;
    }

    /// <summary>Reads the request-level parameters; returns binary_data_output and collects the
    /// others into <paramref name="parameters"/>.</summary>
    private static bool ReadRequestParameters(ref Utf8JsonReader reader, ref Dictionary<string, object>? parameters)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw Invalid("'parameters' must be a JSON object");
        }
        var binaryDataOutput = false;
        while (ReadProperty(ref reader))
        {
            if (reader.ValueTextEquals("binary_data_output"u8))
            {
                reader.Read();
                binaryDataOutput = reader.TokenType switch
                {
                    JsonTokenType.True => true,
                    JsonTokenType.False => false,
                    _ => throw Invalid("parameter 'binary_data_output' must be true or false"),
                };
            }
            else
            {
                var name = reader.GetString()!;
                reader.Read();
                object value = reader.TokenType switch
                {
                    JsonTokenType.True => true,
                    JsonTokenType.False => false,
                    JsonTokenType.String => reader.GetString()!,
                    JsonTokenType.Number when reader.TryGetInt64(out var integer) => integer,
                    JsonTokenType.Number when reader.TryGetUInt64(out var unsigned) => unsigned,
                    JsonTokenType.Number => reader.GetDouble(),
                    _ => throw Invalid($"parameter '{name}' must be a string, a number or a boolean"),
                };
                parameters ??= new Dictionary<string, object>(StringComparer.Ordinal);
                parameters[name] = value;
            }
        }
        return binaryDataOutput;
    }

    /// <summary>Moves to the next property name of the current object; false at its end.</summary>
    private static bool ReadProperty(ref Utf8JsonReader reader)
    {
        reader.Read();
        return reader.TokenType == JsonTokenType.PropertyName;
    }

    private static void ExpectArray(ref Utf8JsonReader reader, string what)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw Invalid($"'{what}' must be a JSON array");
        }
    }

    private static void ReadInput(
        ref Utf8JsonReader reader, LoadedModel model, TensorBuffer?[] inputs, TensorMemoryPool pool, ref BinaryTensorSection binary, SharedMemoryClient sharedMemory)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            throw Invalid("each entry of 'inputs' must be a JSON object");
        }
        string? name = null;
        var index = -1;
        var dataType = DataType.Invalid;
        long[]? shape = null;
        Utf8JsonReader data = default;
        var hasData = false;
        JsonTensorParameters.InputParameters parameters = default;

        while (ReadProperty(ref reader))
        {
            if (reader.ValueTextEquals("name"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.String)
                {
                    throw Invalid("an input's 'name' must be a string");
                }
                // Known names are matched on the UTF-8 bytes and take the config's string: no allocation.
                index = reader.ValueIsEscaped || reader.HasValueSequence
                    ? model.FindInput(reader.GetString()!)
                    : model.FindInput(reader.ValueSpan);
                name = index >= 0 ? model.Config.Inputs[index].Name : reader.GetString()!;
            }
            else if (reader.ValueTextEquals("datatype"u8))
            {
                reader.Read();
                if (reader.TokenType != JsonTokenType.String)
                {
                    throw Invalid("an input's 'datatype' must be a string");
                }
                dataType = reader.ValueIsEscaped || reader.HasValueSequence
                    ? DataTypes.FromWireName(reader.GetString()!)
                    : DataTypes.FromWireName(reader.ValueSpan);
                if (dataType == DataType.Invalid)
                {
                    throw Invalid($"unknown datatype '{reader.GetString()}'; expected one of BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, BF16, FP32, FP64, BYTES");
                }
            }
            else if (reader.ValueTextEquals("shape"u8))
            {
                shape = ReadShape(ref reader, name);
            }
            else if (reader.ValueTextEquals("data"u8))
            {
                reader.Read();
                data = reader; // a copy positioned at the value; decoded once the shape is known
                hasData = true;
                reader.Skip();
            }
            else if (reader.ValueTextEquals("parameters"u8))
            {
                parameters = JsonTensorParameters.ReadInput(ref reader, name);
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        if (name is null)
        {
            throw Invalid("an input has no 'name'");
        }
        if (index < 0)
        {
            throw Invalid($"unexpected inference input '{name}' for model '{model.Name}'");
        }
        if (inputs[index] is not null)
        {
            throw Invalid($"input '{name}' appears more than once");
        }
        var config = model.Config.Inputs[index];
        if (dataType == DataType.Invalid)
        {
            throw Invalid($"input '{name}' has no 'datatype'");
        }
        if (dataType != config.DataType)
        {
            throw Invalid($"inference input '{name}' data-type is '{dataType.WireName()}', but model '{model.Name}' expects '{config.DataType.WireName()}'");
        }
        if (shape is null)
        {
            throw Invalid($"input '{name}' has no 'shape'");
        }
        CheckShape(model.Config, config, shape);
        var elementCount = Size(shape, dataType, name, out var byteLength);
        if (parameters.Region is { } region)
        {
            if (hasData || parameters.BinarySize is not null)
            {
                throw Invalid($"input '{name}' has shared memory parameters and also 'data' or binary_data_size; give one");
            }
            inputs[index] = SharedMemoryTensors.ReadInput(sharedMemory, config, shape, elementCount, byteLength, region, pool);
            return;
        }
        if (parameters.BinarySize is { } size)
        {
            if (hasData)
            {
                throw Invalid($"input '{name}' has both 'data' and binary_data_size; give one");
            }
            inputs[index] = binary.Take(config, shape, elementCount, byteLength, size, pool);
            return;
        }
        if (!hasData)
        {
            throw Invalid($"input '{name}' has no 'data'");
        }
        inputs[index] = JsonTensorData.Decode(ref data, config, shape, elementCount, byteLength, pool);
    }

    private static long[] ReadShape(ref Utf8JsonReader reader, string? name)
    {
        ExpectArray(ref reader, "shape");
        Span<long> dims = stackalloc long[16];
        var rank = 0;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out var dim))
            {
                throw Invalid($"shape of input '{name}' must hold integers");
            }
            if (dim < 0)
            {
                throw Invalid($"shape of input '{name}' has a negative dimension {dim}");
            }
            if (rank == dims.Length)
            {
                throw Invalid($"shape of input '{name}' has more than {dims.Length} dimensions");
            }
            dims[rank++] = dim;
        }
        return dims[..rank].ToArray();
    }

    private static List<(int Index, bool? Binary, SharedMemoryRange? Region)> ReadRequestedOutputs(ref Utf8JsonReader reader, LoadedModel model, SharedMemoryClient sharedMemory)
    {
        ExpectArray(ref reader, "outputs");
        var requested = new List<(int Index, bool? Binary, SharedMemoryRange? Region)>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                throw Invalid("each entry of 'outputs' must be a JSON object");
            }
            string? name = null;
            bool? binary = null;
            SharedMemoryRange? region = null;
            while (ReadProperty(ref reader))
            {
                if (reader.ValueTextEquals("name"u8))
                {
                    reader.Read();
                    name = reader.TokenType == JsonTokenType.String ? reader.GetString() : throw Invalid("an output's 'name' must be a string");
                }
                else if (reader.ValueTextEquals("parameters"u8))
                {
                    (binary, region) = JsonTensorParameters.ReadOutput(ref reader, name);
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }
            if (name is null)
            {
                throw Invalid("a requested output has no 'name'");
            }
            var index = model.FindOutput(name);
            if (index < 0)
            {
                throw Invalid($"unexpected inference output '{name}' for model '{model.Name}'");
            }
            if (requested.Exists(output => output.Index == index))
            {
                throw Invalid($"output '{name}' is requested more than once");
            }
            if (region is { } range)
            {
                SharedMemoryTensors.CheckOutput(sharedMemory, model.Config.Outputs[index].Name, range);
            }
            requested.Add((index, binary, region));
        }
        return requested;
    }
}
