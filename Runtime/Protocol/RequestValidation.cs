using System.Buffers.Binary;
using Fabrik.Configuration;
using Fabrik.Errors;
using Fabrik.Models;
using Fabrik.Tensors;

namespace Fabrik.Protocol;

/// <summary>
/// Checks that every protocol decoder (HTTP JSON, HTTP binary, gRPC) applies to a request before
/// it reaches the scheduler: shapes against the model configuration, element counts, the BYTES
/// layout, and the presence of every required input. Each failure is an InvalidArgument whose
/// message names the input and the problem.
/// </summary>
internal static class RequestValidation
{
    /// <summary>The element count and byte size of input <paramref name="name"/>, computed with
    /// overflow checks (<see cref="TensorSize"/>) before anything is allocated for it. For BYTES,
    /// <paramref name="byteLength"/> is the least its data can take (4 bytes per element).</summary>
    public static long Size(long[] shape, DataType type, string name, out long byteLength) =>
        TensorSize.TryCompute(shape, type, out var elementCount, out byteLength) switch
        {
            TensorSizeError.None => elementCount,
            TensorSizeError.NegativeDimension => throw Invalid($"shape of input '{name}' has a negative dimension: [{string.Join(",", shape)}]"),
            TensorSizeError.TooLarge => throw Invalid($"input '{name}' of shape [{string.Join(",", shape)}] and datatype {type.WireName()} needs more than the {TensorMemoryPool.MaximumLength}-byte tensor limit"),
            _ => throw Invalid($"shape of input '{name}' overflows: [{string.Join(",", shape)}]"),
        };

    /// <summary>Checks a request shape against the configured dims (plus the batch dimension when
    /// the model batches).</summary>
    public static void CheckShape(ModelConfig model, TensorConfig config, long[] shape)
    {
        var batched = model.MaxBatchSize > 0;
        var expectedRank = config.Dims.Length + (batched ? 1 : 0);
        var matches = shape.Length == expectedRank;
        for (var i = 0; matches && i < config.Dims.Length; i++)
        {
            var dim = config.Dims[i];
            matches = dim == -1 || dim == shape[i + (batched ? 1 : 0)];
        }
        if (!matches)
        {
            var expected = (batched ? "[-1," : "[") + string.Join(",", config.Dims) + "]";
            throw Invalid($"unexpected shape for input '{config.Name}' for model '{model.Name}'. Expected {expected}, got [{string.Join(",", shape)}]");
        }
        if (batched && (shape[0] < 1 || shape[0] > model.MaxBatchSize))
        {
            throw Invalid($"inference request batch-size must be <= {model.MaxBatchSize} for '{model.Name}', got {shape[0]} in input '{config.Name}'");
        }
    }

    /// <summary>Checks that <paramref name="data"/> is exactly <paramref name="elementCount"/>
    /// BYTES elements, each a 4-byte little-endian length and that many bytes.</summary>
    public static void CheckBytesLayout(string name, ReadOnlySpan<byte> data, long elementCount)
    {
        long count = 0;
        while (data.Length > 0)
        {
            if (data.Length < 4)
            {
                throw Invalid($"input '{name}': BYTES element {count} has a truncated 4-byte length prefix");
            }
            var length = BinaryPrimitives.ReadUInt32LittleEndian(data);
            if (length > data.Length - 4)
            {
                throw Invalid($"input '{name}': BYTES element {count} declares {length} bytes but only {data.Length - 4} remain");
            }
            data = data[(4 + (int)length)..];
            count++;
        }
        if (count != elementCount)
        {
            throw CountMismatch(name, elementCount, count);
        }
    }

    /// <summary>Checks that every required input is present and that batched inputs agree on the
    /// batch size; returns it.</summary>
    public static int CheckCompleteness(LoadedModel model, TensorBuffer?[] inputs)
    {
        var config = model.Config;
        var batchSize = -1L;
        for (var i = 0; i < inputs.Length; i++)
        {
            if (inputs[i] is not { } input)
            {
                if (!config.Inputs[i].Optional)
                {
                    throw Invalid($"expected {config.Inputs.Count(input => !input.Optional)} inputs but got {inputs.Count(input => input is not null)} inputs for model '{model.Name}': input '{config.Inputs[i].Name}' is missing");
                }
                continue;
            }
            if (config.MaxBatchSize > 0)
            {
                if (batchSize >= 0 && input.Shape[0] != batchSize)
                {
                    throw Invalid($"input '{config.Inputs[i].Name}' has batch size {input.Shape[0]} but an earlier input has {batchSize}; all inputs must share the batch dimension");
                }
                batchSize = input.Shape[0];
            }
        }
        return config.MaxBatchSize > 0 ? (int)Math.Max(batchSize, 1) : 1;
    }

    public static InferenceException CountMismatch(string name, long expected, long actual) =>
        Invalid($"input '{name}': expected {expected} elements (from its shape), got {actual}");

    public static InferenceException Invalid(string message) => InferenceException.InvalidArgument(message);
}
