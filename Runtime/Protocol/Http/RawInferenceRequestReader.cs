using System.Buffers;
using System.Buffers.Binary;
using Fabrik.Configuration;
using Fabrik.Errors;
using Fabrik.Inference;
using Fabrik.Models;
using Fabrik.Tensors;

using static Fabrik.Protocol.RequestValidation;

namespace Fabrik.Protocol.Http;

/// <summary>
/// Raw binary mode of the binary tensor extension (Inference-Header-Content-Length: 0): the whole
/// body is the data of the model's single input, and every output is returned in binary form.
/// </summary>
internal static class RawInferenceRequestReader
{
    /// <summary>Decodes <paramref name="body"/> as the single input of <paramref name="model"/>.
    /// Its shape is deduced from the configuration and the body's length. The caller owns the
    /// returned request and disposes it.</summary>
    /// <exception cref="InferenceException">InvalidArgument, naming what is wrong.</exception>
    public static InferenceRequest Read(ReadOnlySequence<byte> body, LoadedModel model, TensorMemoryPool pool, CancellationToken cancellation, RequestTenant? tenant = null)
    {
        var config = model.Config;
        if (config.Inputs.Length != 1)
        {
            throw Invalid($"a raw binary request (Inference-Header-Content-Length: 0) needs a model with one input; '{model.Name}' has {config.Inputs.Length}");
        }
        var input = config.Inputs[0];
        var shape = RawShape(model, input, body);
        TensorBuffer buffer;
        try
        {
            buffer = RawBuffer(input, shape, body, pool);
        }
        catch (TensorPoolExhaustedException e)
        {
            throw InferenceException.Overloaded(e.Message);
        }
        TensorBuffer?[] inputs = [buffer];
        var outputs = new bool[config.Outputs.Length];
        Array.Fill(outputs, true);
        return new InferenceRequest(inputs, config.MaxBatchSize > 0 ? (int)shape[0] : 1)
        {
            BinaryOutputs = outputs,
            Tenant = tenant,
            Cancellation = cancellation,
        };
    }

    private static TensorBuffer RawBuffer(TensorConfig input, long[] shape, ReadOnlySequence<byte> body, TensorMemoryPool pool)
    {
        TensorBuffer buffer;
        if (input.DataType == DataType.Bytes)
        {
            // One element holding the whole body.
            if (body.Length > TensorMemoryPool.MaximumLength - 4)
            {
                throw Invalid($"raw binary input '{input.Name}' is larger than the {TensorMemoryPool.MaximumLength}-byte tensor limit");
            }
            buffer = new TensorBuffer(pool, DataType.Bytes, shape, 1, 4 + body.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(buffer.Bytes, (uint)body.Length);
            body.CopyTo(buffer.Bytes[4..]);
        }
        else
        {
            var binary = new BinaryTensorSection(body);
            buffer = binary.Take(input, shape, Size(shape, input.DataType, input.Name, out var byteLength), byteLength, body.Length, pool);
        }
        return buffer;
    }

    private static long[] RawShape(LoadedModel model, TensorConfig input, ReadOnlySequence<byte> body)
    {
        var config = model.Config;
        var batched = config.MaxBatchSize > 0;
        if (input.DataType == DataType.Bytes)
        {
            var shape = batched ? new long[input.Dims.Length + 1] : new long[input.Dims.Length];
            Array.Fill(shape, 1L);
            CheckShape(config, input, shape);
            return shape;
        }
        if (input.Dims.Any(dim => dim < 0))
        {
            throw Invalid($"a raw binary request cannot give input '{input.Name}' a shape: its dims [{string.Join(",", input.Dims)}] are variable");
        }
        var rowBytes = TensorSize.TryCompute(input.Dims.AsSpan(), input.DataType, out _, out var checkedRowBytes) == TensorSizeError.None ? checkedRowBytes : 0;
        if (rowBytes == 0 || body.Length % rowBytes != 0 || (!batched && body.Length != rowBytes))
        {
            throw Invalid($"raw binary input '{input.Name}' has {body.Length} bytes, which is not a whole number of {rowBytes}-byte tensors of shape [{string.Join(",", input.Dims)}]");
        }
        var rawShape = batched ? [body.Length / rowBytes, .. input.Dims] : input.Dims.ToArray();
        CheckShape(config, input, rawShape);
        return rawShape;
    }
}
