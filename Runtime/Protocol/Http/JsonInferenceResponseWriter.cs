using System.Buffers;
using System.Text.Json;
using System.Text.Unicode;
using Fabrik.Errors;
using Fabrik.Inference;
using Fabrik.Models;
using Fabrik.Tensors;

namespace Fabrik.Protocol.Http;

/// <summary>
/// Encodes a KServe v2 JSON inference response with <see cref="Utf8JsonWriter"/> straight into
/// the response body. Non-finite floats, which JSON cannot hold as numbers, are written as the
/// strings "NaN", "Infinity" and "-Infinity".
/// </summary>
internal static class JsonInferenceResponseWriter
{
    private static readonly JsonWriterOptions WriterOptions = new() { SkipValidation = true, Indented = false, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    [ThreadStatic]
    private static Utf8JsonWriter? t_writer;

    /// <summary>Checks what could make encoding fail half-way, before anything is written: BYTES
    /// outputs must be valid UTF-8 to travel as JSON strings.</summary>
    /// <exception cref="InferenceException">InvalidArgument naming the output.</exception>
    public static void Validate(LoadedModel model, InferenceRequest request, InferenceResponse response)
    {
        foreach (var index in OutputOrder(request, response))
        {
            var output = response.Outputs[index];
            if (output.DataType != DataType.Bytes || request.BinaryOutputs?[index] == true || request.OutputRegions?[index] is not null)
            {
                continue;
            }
            foreach (var element in output.BytesElements())
            {
                if (!Utf8.IsValid(element))
                {
                    throw InferenceException.InvalidArgument(
                        $"output '{model.Config.Outputs[index].Name}' holds bytes that are not valid UTF-8 and cannot travel in JSON");
                }
            }
        }
    }

    /// <summary>Writes the JSON response for <paramref name="request"/>. Outputs requested in
    /// binary form carry <c>parameters.binary_data_size</c> instead of data; their bytes follow the
    /// JSON. Returns the number of bytes of binary data the caller appends.</summary>
    public static long Write(IBufferWriter<byte> destination, LoadedModel model, InferenceRequest request, InferenceResponse response)
    {
        var json = t_writer ??= new Utf8JsonWriter(Stream.Null, WriterOptions);
        json.Reset(destination);
        try
        {
            json.WriteStartObject();
            json.WriteString("model_name"u8, model.Name);
            json.WriteString("model_version"u8, model.VersionText);
            if (request.Id is { } id)
            {
                json.WriteString("id"u8, id);
            }
            json.WriteStartArray("outputs"u8);
            long binaryLength = 0;
            foreach (var index in OutputOrder(request, response))
            {
                var binary = request.BinaryOutputs?[index] == true;
                WriteOutput(json, model.OutputNamesUtf8[index], response.Outputs[index], binary, request.OutputRegions?[index]);
                binaryLength += binary ? response.Outputs[index].ByteLength : 0;
            }
            json.WriteEndArray();
            json.WriteEndObject();
            json.Flush();
            return binaryLength;
        }
        finally
        {
            json.Reset(Stream.Null);
        }
    }

    /// <summary>The outputs to return, as indices into the model's outputs, in response order.</summary>
    public static IEnumerable<int> OutputOrder(InferenceRequest request, InferenceResponse response) =>
        request.RequestedOutputs ?? Enumerable.Range(0, response.Outputs.Length);

    private static void WriteOutput(Utf8JsonWriter json, byte[] name, TensorBuffer output, bool binary, SharedMemoryRange? region)
    {
        json.WriteStartObject();
        json.WriteString("name"u8, name);
        json.WriteString("datatype"u8, output.DataType.WireNameUtf8());
        json.WriteStartArray("shape"u8);
        foreach (var dim in output.Shape)
        {
            json.WriteNumberValue(dim);
        }
        json.WriteEndArray();
        if (region is { } written)
        {
            // Written into the client's region already (SharedMemoryTensors.WriteOutputs): no data here.
            json.WriteStartObject("parameters"u8);
            json.WriteString("shared_memory_region"u8, written.Region);
            json.WriteNumber("shared_memory_byte_size"u8, output.ByteLength);
            json.WriteEndObject();
        }
        else if (binary)
        {
            json.WriteStartObject("parameters"u8);
            json.WriteNumber("binary_data_size"u8, output.ByteLength);
            json.WriteEndObject();
        }
        else
        {
            json.WriteStartArray("data"u8);
            WriteData(json, output);
            json.WriteEndArray();
        }
        json.WriteEndObject();
    }

    private static void WriteData(Utf8JsonWriter json, TensorBuffer output)
    {
        switch (output.DataType)
        {
            case DataType.Bool:
                foreach (var value in output.Bytes)
                {
                    json.WriteBooleanValue(value != 0);
                }
                break;
            case DataType.UInt8:
                foreach (var value in output.Bytes)
                {
                    json.WriteNumberValue(value);
                }
                break;
            case DataType.Int8:
                foreach (var value in output.As<sbyte>())
                {
                    json.WriteNumberValue(value);
                }
                break;
            case DataType.UInt16:
                foreach (var value in output.As<ushort>())
                {
                    json.WriteNumberValue(value);
                }
                break;
            case DataType.Int16:
                foreach (var value in output.As<short>())
                {
                    json.WriteNumberValue(value);
                }
                break;
            case DataType.UInt32:
                foreach (var value in output.As<uint>())
                {
                    json.WriteNumberValue(value);
                }
                break;
            case DataType.Int32:
                foreach (var value in output.As<int>())
                {
                    json.WriteNumberValue(value);
                }
                break;
            case DataType.UInt64:
                foreach (var value in output.As<ulong>())
                {
                    json.WriteNumberValue(value);
                }
                break;
            case DataType.Int64:
                foreach (var value in output.As<long>())
                {
                    json.WriteNumberValue(value);
                }
                break;
            case DataType.Fp16:
                foreach (var value in output.As<Half>())
                {
                    WriteFloat(json, (float)value);
                }
                break;
            case DataType.Bf16:
                foreach (var value in output.As<ushort>())
                {
                    WriteFloat(json, BFloat16.ToSingle(value));
                }
                break;
            case DataType.Fp32:
                foreach (var value in output.As<float>())
                {
                    WriteFloat(json, value);
                }
                break;
            case DataType.Fp64:
                foreach (var value in output.As<double>())
                {
                    if (double.IsFinite(value))
                    {
                        json.WriteNumberValue(value);
                    }
                    else
                    {
                        WriteNonFinite(json, double.IsNaN(value), value > 0);
                    }
                }
                break;
            case DataType.Bytes:
                foreach (var element in output.BytesElements())
                {
                    json.WriteStringValue(element);
                }
                break;
            default:
                throw new InvalidOperationException($"cannot encode {output.DataType}");
        }
    }

    private static void WriteFloat(Utf8JsonWriter json, float value)
    {
        if (float.IsFinite(value))
        {
            json.WriteNumberValue(value);
        }
        else
        {
            WriteNonFinite(json, float.IsNaN(value), value > 0);
        }
    }

    // Bare literals, as Triton writes them (rapidjson's kWriteNanAndInfFlag) and as Python's json
    // module reads them.
    private static void WriteNonFinite(Utf8JsonWriter json, bool isNaN, bool positive) =>
        json.WriteRawValue(isNaN ? "NaN"u8 : positive ? "Infinity"u8 : "-Infinity"u8, skipInputValidation: true);
}
