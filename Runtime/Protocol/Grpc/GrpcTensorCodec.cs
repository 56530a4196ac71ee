using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Fabrik.Configuration;
using Fabrik.Errors;
using Fabrik.Inference;
using Fabrik.Models;
using Fabrik.Protocol.SharedMemory;
using Fabrik.Protocol.Triton;
using Fabrik.Tensors;
using Google.Protobuf;
using static Fabrik.Protocol.RequestValidation;
using DataType = Fabrik.Tensors.DataType;

namespace Fabrik.Protocol.Grpc;

/// <summary>
/// Converts gRPC ModelInferRequest messages into <see cref="InferenceRequest"/>s and responses
/// back. Inputs may come as raw_input_contents (any datatype; the only form for FP16 and BF16) or
/// as typed contents. Outputs always travel as raw_output_contents, as Triton sends them.
/// </summary>
internal static class GrpcTensorCodec
{
    /// <summary>Decodes and validates <paramref name="message"/>. The caller owns the request.
    /// Tensors in shared memory go through <paramref name="sharedMemory"/> (without a registry they
    /// are refused); raw_input_contents then holds the other inputs only, in order, as Triton's
    /// clients send it.</summary>
    /// <exception cref="InferenceException">InvalidArgument, naming what is wrong.</exception>
    public static InferenceRequest Decode(
        ModelInferRequest message, LoadedModel model, TensorMemoryPool pool, CancellationToken cancellation, SharedMemoryClient sharedMemory = default, RequestTenant? tenant = null)
    {
        var config = model.Config;
        var inputs = new TensorBuffer?[config.Inputs.Length];
        try
        {
            var raw = message.RawInputContents;
            var ranges = InputRanges(message);
            var inBody = message.Inputs.Count - (ranges?.Count(range => range is not null) ?? 0);
            if (raw.Count > 0 && raw.Count != inBody)
            {
                throw Invalid($"raw_input_contents has {raw.Count} entries but the request has {inBody} inputs outside shared memory; give one per input");
            }
            var rawIndex = 0;
            for (var i = 0; i < message.Inputs.Count; i++)
            {
                var tensor = message.Inputs[i];
                var index = model.FindInput(tensor.Name);
                if (index < 0)
                {
                    throw Invalid($"unexpected inference input '{tensor.Name}' for model '{model.Name}'");
                }
                if (inputs[index] is not null)
                {
                    throw Invalid($"input '{tensor.Name}' appears more than once");
                }
                var inputConfig = config.Inputs[index];
                var dataType = DataTypes.FromWireName(tensor.Datatype);
                if (dataType == DataType.Invalid)
                {
                    throw Invalid($"unknown datatype '{tensor.Datatype}' for input '{tensor.Name}'");
                }
                if (dataType != inputConfig.DataType)
                {
                    throw Invalid($"inference input '{tensor.Name}' data-type is '{dataType.WireName()}', but model '{model.Name}' expects '{inputConfig.DataType.WireName()}'");
                }
                var shape = tensor.Shape.ToArray();
                foreach (var dim in shape)
                {
                    if (dim < 0)
                    {
                        throw Invalid($"shape of input '{tensor.Name}' has a negative dimension {dim}");
                    }
                }
                CheckShape(config, inputConfig, shape);
                var elementCount = Size(shape, dataType, tensor.Name, out var byteLength);
                if (ranges?[i] is { } range)
                {
                    if (tensor.Contents is not null)
                    {
                        throw Invalid($"input '{tensor.Name}' has shared memory parameters and also contents; give one");
                    }
                    inputs[index] = SharedMemoryTensors.ReadInput(sharedMemory, inputConfig, shape, elementCount, byteLength, range, pool);
                }
                else if (raw.Count > 0)
                {
                    if (tensor.Contents is not null)
                    {
                        throw Invalid($"input '{tensor.Name}' has contents although the request uses raw_input_contents");
                    }
                    inputs[index] = FromRaw(inputConfig, shape, elementCount, byteLength, raw[rawIndex++].Span, pool);
                }
                else
                {
                    inputs[index] = FromContents(inputConfig, shape, elementCount, tensor.Contents, pool);
                }
            }

            var requested = new int[message.Outputs.Count];
            SharedMemoryRange?[]? outputRegions = null;
            for (var i = 0; i < requested.Length; i++)
            {
                var index = model.FindOutput(message.Outputs[i].Name);
                if (index < 0)
                {
                    throw Invalid($"unexpected inference output '{message.Outputs[i].Name}' for model '{model.Name}'");
                }
                if (Array.IndexOf(requested, index, 0, i) >= 0)
                {
                    throw Invalid($"output '{message.Outputs[i].Name}' is requested more than once");
                }
                requested[i] = index;
                if (Range(message.Outputs[i].Name, message.Outputs[i].Parameters) is { } range)
                {
                    SharedMemoryTensors.CheckOutput(sharedMemory, model.Config.Outputs[index].Name, range);
                    (outputRegions ??= new SharedMemoryRange?[config.Outputs.Length])[index] = range;
                }
            }
            var batchSize = CheckCompleteness(model, inputs);
            return new InferenceRequest(inputs, batchSize)
            {
                Id = message.Id.Length > 0 ? message.Id : null,
                RequestedOutputs = requested.Length > 0 ? requested : null,
                OutputRegions = outputRegions,
                Parameters = Parameters(message.Parameters),
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
            if (e is TensorPoolExhaustedException)
            {
                throw InferenceException.Overloaded(e.Message);
            }
            throw;
        }
    }

    /// <summary>Builds the response message; output bytes are copied into it, so the caller may
    /// dispose <paramref name="response"/> as soon as this returns.</summary>
    public static ModelInferResponse Encode(LoadedModel model, InferenceRequest request, InferenceResponse response)
    {
        var message = new ModelInferResponse
        {
            ModelName = model.Name,
            ModelVersion = model.VersionText,
            Id = request.Id ?? "",
        };
        var order = request.RequestedOutputs;
        var count = order?.Length ?? response.Outputs.Length;
        for (var i = 0; i < count; i++)
        {
            var index = order?[i] ?? i;
            var output = response.Outputs[index];
            var tensor = new ModelInferResponse.Types.InferOutputTensor
            {
                Name = model.Config.Outputs[index].Name,
                Datatype = output.DataType.WireName(),
            };
            tensor.Shape.AddRange(output.Shape);
            message.Outputs.Add(tensor);
            if (request.OutputRegions?[index] is { } region)
            {
                // Written into the client's region already: an empty entry keeps raw_output_contents
                // in step with outputs.
                tensor.Parameters.Add("shared_memory_region", new InferParameter { StringParam = region.Region });
                tensor.Parameters.Add("shared_memory_byte_size", new InferParameter { Int64Param = output.ByteLength });
                message.RawOutputContents.Add(ByteString.Empty);
                continue;
            }
            // No copy: the message holds the pooled buffers until it is serialized.
            message.RawOutputContents.Add(UnsafeByteOperations.UnsafeWrap(output.Array.AsMemory(0, output.ByteLength)));
        }
        message.HoldPooledOutputs(response);
        return message;
    }

    /// <summary>Per input of the message, its shared-memory range; null when no input has one.</summary>
    private static SharedMemoryRange?[]? InputRanges(ModelInferRequest message)
    {
        SharedMemoryRange?[]? ranges = null;
        for (var i = 0; i < message.Inputs.Count; i++)
        {
            if (message.Inputs[i].Parameters.Count > 0 && Range(message.Inputs[i].Name, message.Inputs[i].Parameters) is { } range)
            {
                (ranges ??= new SharedMemoryRange?[message.Inputs.Count])[i] = range;
            }
        }
        return ranges;
    }

    /// <summary>A tensor's shared_memory_region, shared_memory_offset and shared_memory_byte_size;
    /// the numbers may come as int64 or uint64 parameters, as Triton's clients send either.</summary>
    private static SharedMemoryRange? Range(string tensor, Google.Protobuf.Collections.MapField<string, InferParameter> parameters)
    {
        if (parameters.Count == 0)
        {
            return null;
        }
        string? region = null;
        if (parameters.TryGetValue("shared_memory_region", out var name))
        {
            region = name.ParameterChoiceCase == InferParameter.ParameterChoiceOneofCase.StringParam
                ? name.StringParam
                : throw Invalid($"shared_memory_region of tensor '{tensor}' must be a string parameter");
        }
        return SharedMemoryTensors.Range(tensor, region, Integer(tensor, parameters, "shared_memory_offset"), Integer(tensor, parameters, "shared_memory_byte_size"));
    }

    private static long? Integer(string tensor, Google.Protobuf.Collections.MapField<string, InferParameter> parameters, string key)
    {
        if (!parameters.TryGetValue(key, out var value))
        {
            return null;
        }
        return value.ParameterChoiceCase switch
        {
            InferParameter.ParameterChoiceOneofCase.Int64Param when value.Int64Param >= 0 => value.Int64Param,
            InferParameter.ParameterChoiceOneofCase.Uint64Param when value.Uint64Param <= long.MaxValue => (long)value.Uint64Param,
            _ => throw Invalid($"{key} of tensor '{tensor}' must be an integer from 0 to {long.MaxValue}"),
        };
    }

    private static IReadOnlyDictionary<string, object> Parameters(Google.Protobuf.Collections.MapField<string, InferParameter> wire)
    {
        if (wire.Count == 0)
        {
            return InferenceRequest.NoParameters;
        }
        var parameters = new Dictionary<string, object>(wire.Count, StringComparer.Ordinal);
        foreach (var (name, value) in wire)
        {
            parameters[name] = value.ParameterChoiceCase switch
            {
                InferParameter.ParameterChoiceOneofCase.BoolParam => value.BoolParam,
                InferParameter.ParameterChoiceOneofCase.Int64Param => value.Int64Param,
                InferParameter.ParameterChoiceOneofCase.Uint64Param => value.Uint64Param,
                InferParameter.ParameterChoiceOneofCase.DoubleParam => value.DoubleParam,
                InferParameter.ParameterChoiceOneofCase.StringParam => value.StringParam,
                _ => throw Invalid($"parameter '{name}' has no value"),
            };
        }
        return parameters;
    }

    private static TensorBuffer FromRaw(TensorConfig config, long[] shape, long elementCount, long byteLength, ReadOnlySpan<byte> raw, TensorMemoryPool pool)
    {
        var type = config.DataType;
        if (type == DataType.Bytes)
        {
            CheckBytesLayout(config.Name, raw, elementCount);
        }
        else if (raw.Length != byteLength)
        {
            throw Invalid($"input '{config.Name}': raw_input_contents holds {raw.Length} bytes but shape [{string.Join(",", shape)}] of {type.WireName()} needs {byteLength}");
        }
        if (raw.Length > TensorMemoryPool.MaximumLength)
        {
            throw Invalid($"input '{config.Name}' is larger than the {TensorMemoryPool.MaximumLength}-byte tensor limit");
        }
        var buffer = new TensorBuffer(pool, type, shape, elementCount, raw.Length);
        raw.CopyTo(buffer.Bytes);
        return buffer;
    }

    /// <summary>Decodes typed InferTensorContents into a new tensor buffer owned by the caller.</summary>
    internal static TensorBuffer FromContents(TensorConfig config, long[] shape, long elementCount, InferTensorContents? contents, TensorMemoryPool pool)
    {
        var name = config.Name;
        if (contents is null)
        {
            throw Invalid($"input '{name}' has neither contents nor raw_input_contents");
        }
        var type = config.DataType;
        if (type is DataType.Fp16 or DataType.Bf16)
        {
            throw Invalid($"input '{name}' is {type.WireName()}, which has no typed contents field; send it in raw_input_contents");
        }
        if (type == DataType.Bytes)
        {
            var elements = contents.BytesContents;
            CheckCount(name, elementCount, elements.Count);
            long size = 0;
            foreach (var element in elements)
            {
                size += 4 + element.Length;
            }
            if (size > TensorMemoryPool.MaximumLength)
            {
                throw Invalid($"input '{name}' is larger than the {TensorMemoryPool.MaximumLength}-byte tensor limit");
            }
            var strings = new TensorBuffer(pool, type, shape, elementCount, size);
            var destination = strings.Bytes;
            foreach (var element in elements)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(destination, (uint)element.Length);
                element.Span.CopyTo(destination[4..]);
                destination = destination[(4 + element.Length)..];
            }
            return strings;
        }

        // The typed field must hold exactly the declared count before anything is rented: the
        // count is then bounded by the message, so the product below cannot overflow.
        CheckCount(name, elementCount, TypedCount(contents, type));
        var buffer = new TensorBuffer(pool, type, shape, elementCount, elementCount * type.ElementSize());
        try
        {
            var bytes = buffer.Bytes;
            switch (type)
            {
                case DataType.Bool:
                    CheckCount(name, elementCount, contents.BoolContents.Count);
                    for (var i = 0; i < bytes.Length; i++)
                    {
                        bytes[i] = contents.BoolContents[i] ? (byte)1 : (byte)0;
                    }
                    break;
                case DataType.Int8:
                    Narrow(name, contents.IntContents, MemoryMarshal.Cast<byte, sbyte>(bytes), elementCount, static v => v is >= sbyte.MinValue and <= sbyte.MaxValue, static v => (sbyte)v);
                    break;
                case DataType.Int16:
                    Narrow(name, contents.IntContents, MemoryMarshal.Cast<byte, short>(bytes), elementCount, static v => v is >= short.MinValue and <= short.MaxValue, static v => (short)v);
                    break;
                case DataType.Int32:
                    Copy(name, contents.IntContents, MemoryMarshal.Cast<byte, int>(bytes), elementCount);
                    break;
                case DataType.Int64:
                    Copy(name, contents.Int64Contents, MemoryMarshal.Cast<byte, long>(bytes), elementCount);
                    break;
                case DataType.UInt8:
                    Narrow(name, contents.UintContents, bytes, elementCount, static v => v <= byte.MaxValue, static v => (byte)v);
                    break;
                case DataType.UInt16:
                    Narrow(name, contents.UintContents, MemoryMarshal.Cast<byte, ushort>(bytes), elementCount, static v => v <= ushort.MaxValue, static v => (ushort)v);
                    break;
                case DataType.UInt32:
                    Copy(name, contents.UintContents, MemoryMarshal.Cast<byte, uint>(bytes), elementCount);
                    break;
                case DataType.UInt64:
                    Copy(name, contents.Uint64Contents, MemoryMarshal.Cast<byte, ulong>(bytes), elementCount);
                    break;
                case DataType.Fp32:
                    Copy(name, contents.Fp32Contents, MemoryMarshal.Cast<byte, float>(bytes), elementCount);
                    break;
                case DataType.Fp64:
                    Copy(name, contents.Fp64Contents, MemoryMarshal.Cast<byte, double>(bytes), elementCount);
                    break;
                default:
                    throw Invalid($"input '{name}' has an unsupported datatype {type.WireName()}");
            }
            return buffer;
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
    }

    private static void Copy<T>(string name, Google.Protobuf.Collections.RepeatedField<T> source, Span<T> destination, long elementCount)
    {
        CheckCount(name, elementCount, source.Count);
        for (var i = 0; i < destination.Length; i++)
        {
            destination[i] = source[i];
        }
    }

    private static void Narrow<TWire, T>(string name, Google.Protobuf.Collections.RepeatedField<TWire> source, Span<T> destination, long elementCount, Func<TWire, bool> fits, Func<TWire, T> convert)
    {
        CheckCount(name, elementCount, source.Count);
        for (var i = 0; i < destination.Length; i++)
        {
            var value = source[i];
            if (!fits(value))
            {
                throw Invalid($"input '{name}': element {i} ({value}) is out of range for its datatype");
            }
            destination[i] = convert(value);
        }
    }

    /// <summary>How many values the typed field that carries <paramref name="type"/> holds.</summary>
    private static int TypedCount(InferTensorContents contents, DataType type) => type switch
    {
        DataType.Bool => contents.BoolContents.Count,
        DataType.Int8 or DataType.Int16 or DataType.Int32 => contents.IntContents.Count,
        DataType.Int64 => contents.Int64Contents.Count,
        DataType.UInt8 or DataType.UInt16 or DataType.UInt32 => contents.UintContents.Count,
        DataType.UInt64 => contents.Uint64Contents.Count,
        DataType.Fp32 => contents.Fp32Contents.Count,
        DataType.Fp64 => contents.Fp64Contents.Count,
        _ => 0,
    };

    private static void CheckCount(string name, long expected, int actual)
    {
        if (actual != expected)
        {
            throw CountMismatch(name, expected, actual);
        }
    }
}
