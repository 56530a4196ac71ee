using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using Fabrik.Client.Protos;
using Fabrik.Client.Wire;
using Google.Protobuf;
using Google.Protobuf.Collections;
using WireParameter = Fabrik.Client.Protos.InferParameter;

namespace Fabrik.Client.Grpc;

/// <summary>
/// Builds <c>ModelInferRequest</c> messages and reads <c>ModelInferResponse</c> ones. Inputs go in
/// <c>raw_input_contents</c> as the caller's memory wrapped, not copied (protobuf copies them once
/// into the outgoing message); outputs are read from <c>raw_output_contents</c> in place, or from
/// the typed <c>contents</c> fields, which some KServe servers fill instead.
/// </summary>
internal static class GrpcInferenceCodec
{
    public static ModelInferRequest Encode(InferRequest request)
    {
        var message = new ModelInferRequest { ModelName = request.ModelName, ModelVersion = request.ModelVersion ?? "", Id = request.Id ?? "" };
        if (request.HasWireParameters)
        {
            foreach (var parameter in request.WireParameters())
            {
                message.Parameters[parameter.Key] = Parameter(parameter.Value);
            }
        }
        foreach (var input in request.Inputs)
        {
            var tensor = new ModelInferRequest.Types.InferInputTensor { Name = input.Name, Datatype = input.Datatype.WireName() };
            foreach (var dim in input.ShapeSpan)
            {
                tensor.Shape.Add(dim);
            }
            message.Inputs.Add(tensor);
            if (input.SharedMemory is { } range)
            {
                // raw_input_contents then holds the other inputs only, in order, as Triton's clients send it.
                AddRange(tensor.Parameters, range);
            }
            else
            {
                message.RawInputContents.Add(UnsafeByteOperations.UnsafeWrap(input.Data));
            }
        }
        foreach (var output in request.Outputs)
        {
            var requested = new ModelInferRequest.Types.InferRequestedOutputTensor { Name = output.Name };
            foreach (var parameter in output.Parameters)
            {
                requested.Parameters[parameter.Key] = Parameter(parameter.Value);
            }
            if (output.SharedMemory is { } range)
            {
                AddRange(requested.Parameters, range);
            }
            message.Outputs.Add(requested);
        }
        return message;
    }

    /// <exception cref="FabrikException">InvalidResponse, naming what does not add up.</exception>
    public static InferResult Decode(ModelInferResponse message)
    {
        var raw = message.RawOutputContents;
        if (raw.Count > 0 && raw.Count != message.Outputs.Count)
        {
            throw GrpcErrors.InvalidResponse($"{message.Outputs.Count} outputs but {raw.Count} raw_output_contents");
        }
        var outputs = new InferOutput[message.Outputs.Count];
        for (var i = 0; i < outputs.Length; i++)
        {
            var output = message.Outputs[i];
            if (!TensorDataTypes.TryParse(output.Datatype, out var type))
            {
                throw GrpcErrors.InvalidResponse($"output '{output.Name}' has datatype '{output.Datatype}', which the protocol does not define");
            }
            var shape = output.Shape;
            var dims = new long[shape.Count];
            shape.CopyTo(dims, 0);
            if (SharedMemoryOutput(output, dims, type) is { } written)
            {
                outputs[i] = written;
                continue;
            }
            var data = raw.Count > 0 ? raw[i].Memory : FromContents(output.Name, type, output.Contents);
            if (InferOutput.CheckLayout(output.Name, type, dims, data.Span) is { } problem)
            {
                throw GrpcErrors.InvalidResponse(problem);
            }
            outputs[i] = new InferOutput(output.Name, type, dims, data);
        }
        var parameters = message.Parameters.Count == 0 ? null : Parameters(message.Parameters);
        return new InferResult(message.ModelName, message.ModelVersion, message.Id.Length > 0 ? message.Id : null, outputs, parameters);
    }

    /// <summary>A tensor's place in shared memory as Triton's clients send it (int64 parameters).</summary>
    private static void AddRange(MapField<string, WireParameter> parameters, SharedMemoryRange range)
    {
        parameters["shared_memory_region"] = new WireParameter { StringParam = range.Region };
        parameters["shared_memory_byte_size"] = new WireParameter { Int64Param = range.ByteSize };
        parameters["shared_memory_offset"] = new WireParameter { Int64Param = range.Offset };
    }

    /// <summary>An output the server wrote into a shared-memory region (its parameters name the
    /// region; its raw_output_contents entry is empty), or null for one in the answer.</summary>
    private static InferOutput? SharedMemoryOutput(ModelInferResponse.Types.InferOutputTensor output, long[] shape, TensorDataType type)
    {
        if (!output.Parameters.TryGetValue("shared_memory_region", out var region))
        {
            return null;
        }
        if (region.ParameterChoiceCase != WireParameter.ParameterChoiceOneofCase.StringParam || region.StringParam.Length == 0)
        {
            throw GrpcErrors.InvalidResponse($"output '{output.Name}': shared_memory_region must be a region name");
        }
        long size = 0;
        if (output.Parameters.TryGetValue("shared_memory_byte_size", out var written))
        {
            size = written.ParameterChoiceCase switch
            {
                WireParameter.ParameterChoiceOneofCase.Int64Param when written.Int64Param >= 0 => written.Int64Param,
                WireParameter.ParameterChoiceOneofCase.Uint64Param when written.Uint64Param <= long.MaxValue => (long)written.Uint64Param,
                _ => throw GrpcErrors.InvalidResponse($"output '{output.Name}': shared_memory_byte_size must be a byte count"),
            };
        }
        return TensorLayout.TryElementCount(shape, out _)
            ? new InferOutput(output.Name, type, shape, region.StringParam, size)
            : throw GrpcErrors.InvalidResponse($"output '{output.Name}' has shape [{string.Join(",", shape)}], with a negative dimension or more than {int.MaxValue} elements");
    }

    private static WireParameter Parameter(ParameterValue value) => value.Kind switch
    {
        ParameterKind.Bool => new WireParameter { BoolParam = value.AsBool() },
        ParameterKind.Int64 => new WireParameter { Int64Param = value.AsInt64() },
        ParameterKind.UInt64 => new WireParameter { Uint64Param = value.AsUInt64() },
        ParameterKind.Double => new WireParameter { DoubleParam = value.AsDouble() },
        _ => new WireParameter { StringParam = value.AsString() },
    };

    private static Dictionary<string, ParameterValue> Parameters(MapField<string, WireParameter> wire)
    {
        var parameters = new Dictionary<string, ParameterValue>(wire.Count, StringComparer.Ordinal);
        foreach (var (name, value) in wire)
        {
            switch (value.ParameterChoiceCase)
            {
                case WireParameter.ParameterChoiceOneofCase.BoolParam:
                    parameters[name] = value.BoolParam;
                    break;
                case WireParameter.ParameterChoiceOneofCase.Int64Param:
                    parameters[name] = value.Int64Param;
                    break;
                case WireParameter.ParameterChoiceOneofCase.Uint64Param:
                    parameters[name] = value.Uint64Param;
                    break;
                case WireParameter.ParameterChoiceOneofCase.DoubleParam:
                    parameters[name] = value.DoubleParam;
                    break;
                case WireParameter.ParameterChoiceOneofCase.StringParam:
                    parameters[name] = value.StringParam;
                    break;
            }
        }
        return parameters;
    }

    /// <summary>The wire bytes of typed contents: INT8/16/32 travel in int_contents and
    /// UINT8/16/32 in uint_contents, narrowed here with a range check; FP16 and BF16 have no typed field.</summary>
    private static byte[] FromContents(string name, TensorDataType type, InferTensorContents? contents)
    {
        contents ??= new InferTensorContents();
        switch (type)
        {
            case TensorDataType.Bool:
                return [.. contents.BoolContents.Select(value => value ? (byte)1 : (byte)0)];
            case TensorDataType.UInt8 or TensorDataType.UInt16 or TensorDataType.UInt32:
                return Narrow(name, type, contents.UintContents.Select(value => (long)value));
            case TensorDataType.Int8 or TensorDataType.Int16 or TensorDataType.Int32:
                return Narrow(name, type, contents.IntContents.Select(value => (long)value));
            case TensorDataType.Int64:
                return Bytes<long>(contents.Int64Contents, BinaryPrimitives.WriteInt64LittleEndian);
            case TensorDataType.UInt64:
                return Bytes<ulong>(contents.Uint64Contents, BinaryPrimitives.WriteUInt64LittleEndian);
            case TensorDataType.Fp32:
                return Bytes<float>(contents.Fp32Contents, BinaryPrimitives.WriteSingleLittleEndian);
            case TensorDataType.Fp64:
                return Bytes<double>(contents.Fp64Contents, BinaryPrimitives.WriteDoubleLittleEndian);
            case TensorDataType.Bytes:
                var data = new byte[contents.BytesContents.Sum(element => 4L + element.Length)];
                var offset = 0;
                foreach (var element in contents.BytesContents)
                {
                    BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(offset), element.Length);
                    element.Span.CopyTo(data.AsSpan(offset + 4));
                    offset += 4 + element.Length;
                }
                return data;
            default:
                throw GrpcErrors.InvalidResponse($"output '{name}' is {type.WireName()} but came without raw_output_contents");
        }
    }

    private static byte[] Narrow(string name, TensorDataType type, IEnumerable<long> values)
    {
        var size = type.ElementSize();
        (long Min, long Max) range = type switch
        {
            TensorDataType.UInt8 => (byte.MinValue, byte.MaxValue),
            TensorDataType.UInt16 => (ushort.MinValue, ushort.MaxValue),
            TensorDataType.UInt32 => (uint.MinValue, (long)uint.MaxValue),
            TensorDataType.Int8 => (sbyte.MinValue, sbyte.MaxValue),
            TensorDataType.Int16 => (short.MinValue, short.MaxValue),
            _ => ((long)int.MinValue, (long)int.MaxValue),
        };
        var list = values.ToList();
        var data = new byte[list.Count * size];
        for (var i = 0; i < list.Count; i++)
        {
            var value = list[i] >= range.Min && list[i] <= range.Max ? list[i] : throw GrpcErrors.InvalidResponse($"output '{name}': element {i} ({list[i]}) is out of range for {type.WireName()}");
            switch (size)
            {
                case 1:
                    data[i] = unchecked((byte)value);
                    break;
                case 2:
                    BinaryPrimitives.WriteInt16LittleEndian(data.AsSpan(i * 2), unchecked((short)value));
                    break;
                default:
                    BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(i * 4), unchecked((int)value));
                    break;
            }
        }
        return data;
    }

    private static byte[] Bytes<T>(RepeatedField<T> values, SpanAction<byte, T> write)
    {
        var size = Unsafe.SizeOf<T>();
        var data = new byte[values.Count * size];
        for (var i = 0; i < values.Count; i++)
        {
            write(data.AsSpan(i * size), values[i]);
        }
        return data;
    }
}
