using System.Text.Json;
using Fabrik.Client.Wire;

namespace Fabrik.Client.Http;

/// <summary>Encodes an <see cref="InferRequest"/> as the body of <c>POST /v2/models/{m}/infer</c>:
/// the JSON header (written with a reused <see cref="Utf8JsonWriter"/> into a pooled buffer) and,
/// in binary form, the inputs' bytes after it.</summary>
internal static class InferRequestEncoder
{
    private static readonly JsonWriterOptions WriterOptions = new() { SkipValidation = true, Indented = false, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    [ThreadStatic]
    private static Utf8JsonWriter? t_writer;

    /// <summary>The request body; the caller disposes it once sent.</summary>
    public static InferRequestContent Encode(InferRequest request, HttpTensorFormat format)
    {
        var binaryInputs = 0;
        var binary = new bool[request.Inputs.Count];
        for (var i = 0; i < binary.Length; i++)
        {
            var input = request.Inputs[i];
            binary[i] = input.SharedMemory is null
                && (format == HttpTensorFormat.Binary || (input.Datatype == TensorDataType.Bytes && !JsonTensorWriter.IsUtf8Text(input.Data.Span)));
            binaryInputs += binary[i] ? 1 : 0;
        }
        var header = new PooledBufferWriter();
        var json = t_writer ??= new Utf8JsonWriter(Stream.Null, WriterOptions);
        json.Reset(header);
        try
        {
            json.WriteStartObject();
            if (request.Id is { } id)
            {
                json.WriteString("id"u8, id);
            }
            WriteParameters(json, request.HasWireParameters ? request.WireParameters() : [], binaryOutputs: format == HttpTensorFormat.Binary && request.Outputs.Count == 0);
            json.WriteStartArray("inputs"u8);
            for (var i = 0; i < binary.Length; i++)
            {
                WriteInput(json, request.Inputs[i], binary[i]);
            }
            json.WriteEndArray();
            if (request.Outputs.Count > 0)
            {
                json.WriteStartArray("outputs"u8);
                foreach (var output in request.Outputs)
                {
                    json.WriteStartObject();
                    json.WriteString("name"u8, output.Name);
                    json.WriteStartObject("parameters"u8);
                    if (output.SharedMemory is { } range)
                    {
                        WriteRange(json, range);
                    }
                    else
                    {
                        json.WriteBoolean("binary_data"u8, output.Binary ?? format == HttpTensorFormat.Binary);
                    }
                    foreach (var parameter in output.Parameters)
                    {
                        if (parameter.Key != "binary_data" && !IsRangeParameter(parameter.Key))
                        {
                            WriteParameter(json, parameter.Key, parameter.Value);
                        }
                    }
                    json.WriteEndObject();
                    json.WriteEndObject();
                }
                json.WriteEndArray();
            }
            json.WriteEndObject();
            json.Flush();
        }
        catch
        {
            header.Dispose();
            throw;
        }
        finally
        {
            json.Reset(Stream.Null);
        }
        var data = new ReadOnlyMemory<byte>[binaryInputs];
        for (int i = 0, next = 0; i < binary.Length; i++)
        {
            if (binary[i])
            {
                data[next++] = request.Inputs[i].Data;
            }
        }
        return new InferRequestContent(header, data);
    }

    private static void WriteInput(Utf8JsonWriter json, InferInput input, bool binary)
    {
        json.WriteStartObject();
        json.WriteString("name"u8, input.Name);
        json.WriteString("datatype"u8, input.Datatype.WireName());
        json.WriteStartArray("shape"u8);
        foreach (var dim in input.ShapeSpan)
        {
            json.WriteNumberValue(dim);
        }
        json.WriteEndArray();
        if (input.SharedMemory is { } range)
        {
            json.WriteStartObject("parameters"u8);
            WriteRange(json, range);
            json.WriteEndObject();
        }
        else if (binary)
        {
            json.WriteStartObject("parameters"u8);
            json.WriteNumber("binary_data_size"u8, input.Data.Length);
            json.WriteEndObject();
        }
        else
        {
            json.WriteStartArray("data"u8);
            JsonTensorWriter.WriteElements(json, input.Datatype, input.Data.Span);
            json.WriteEndArray();
        }
        json.WriteEndObject();
    }

    /// <summary>A tensor's place in shared memory, as Triton's extension names it.</summary>
    private static void WriteRange(Utf8JsonWriter json, SharedMemoryRange range)
    {
        json.WriteString("shared_memory_region"u8, range.Region);
        json.WriteNumber("shared_memory_byte_size"u8, range.ByteSize);
        json.WriteNumber("shared_memory_offset"u8, range.Offset);
    }

    /// <summary>Whether a custom parameter would repeat one of the range's.</summary>
    internal static bool IsRangeParameter(string name) => name is "shared_memory_region" or "shared_memory_byte_size" or "shared_memory_offset";

    private static void WriteParameters(Utf8JsonWriter json, IEnumerable<KeyValuePair<string, ParameterValue>> parameters, bool binaryOutputs)
    {
        var started = false;
        foreach (var parameter in parameters)
        {
            if (!started)
            {
                json.WriteStartObject("parameters"u8);
                started = true;
            }
            if (!(binaryOutputs && parameter.Key == "binary_data_output"))
            {
                WriteParameter(json, parameter.Key, parameter.Value);
            }
        }
        if (binaryOutputs)
        {
            if (!started)
            {
                json.WriteStartObject("parameters"u8);
                started = true;
            }
            json.WriteBoolean("binary_data_output"u8, true);
        }
        if (started)
        {
            json.WriteEndObject();
        }
    }

    /// <summary>Writes one parameter as a JSON property of its kind.</summary>
    public static void WriteParameter(Utf8JsonWriter json, string name, ParameterValue value)
    {
        switch (value.Kind)
        {
            case ParameterKind.Bool:
                json.WriteBoolean(name, value.AsBool());
                break;
            case ParameterKind.Int64:
                json.WriteNumber(name, value.AsInt64());
                break;
            case ParameterKind.UInt64:
                json.WriteNumber(name, value.AsUInt64());
                break;
            case ParameterKind.Double:
                json.WriteNumber(name, value.AsDouble());
                break;
            default:
                json.WriteString(name, value.AsString());
                break;
        }
    }
}
