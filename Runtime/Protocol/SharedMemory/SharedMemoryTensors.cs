using Fabrik.Configuration;
using Fabrik.Inference;
using Fabrik.Models;
using Fabrik.Tensors;

using static Fabrik.Protocol.RequestValidation;

namespace Fabrik.Protocol.SharedMemory;

/// <summary>
/// Tensors that travel in registered shared-memory regions, for every decoder and encoder: inputs
/// are copied once from the region into a pooled buffer (which the backends then wrap in place, as
/// any other input), and requested outputs are written into their region before the response,
/// which then carries no data for them. Every offset and size is checked against the region, and
/// against the object's current size, at each use.
/// </summary>
internal static class SharedMemoryTensors
{
    /// <summary>The three parameters of one tensor as a range; null when none is given.</summary>
    /// <exception cref="Errors.InferenceException">Only some of them are given, or a value is negative.</exception>
    public static SharedMemoryRange? Range(string tensor, string? region, long? offset, long? byteSize)
    {
        if (region is null && offset is null && byteSize is null)
        {
            return null;
        }
        if (region is null || byteSize is null)
        {
            throw Invalid($"tensor '{tensor}': shared_memory_region and shared_memory_byte_size must be given together");
        }
        if (offset < 0 || byteSize < 0)
        {
            throw Invalid($"tensor '{tensor}': shared_memory_offset and shared_memory_byte_size must be non-negative");
        }
        return new SharedMemoryRange(region, offset ?? 0, byteSize.Value);
    }

    /// <summary>Reads input <paramref name="config"/> of shape <paramref name="shape"/> from its
    /// region into a new pooled buffer, which the caller owns.</summary>
    public static TensorBuffer ReadInput(
        SharedMemoryClient client, TensorConfig config, long[] shape, long elementCount, long byteLength, SharedMemoryRange range, TensorMemoryPool pool)
    {
        var type = config.DataType;
        if (type == DataType.Bytes ? range.ByteSize < byteLength : range.ByteSize != byteLength)
        {
            throw Invalid($"input '{config.Name}': shared_memory_byte_size is {range.ByteSize} bytes but shape [{string.Join(",", shape)}] of {type.WireName()} needs {byteLength}");
        }
        if (range.ByteSize > TensorMemoryPool.MaximumLength)
        {
            throw Invalid($"input '{config.Name}' is larger than the {TensorMemoryPool.MaximumLength}-byte tensor limit");
        }
        var region = client.Lease(range.Region, config.Name);
        try
        {
            region.CheckRange(config.Name, range.Offset, range.ByteSize);
            var buffer = new TensorBuffer(pool, type, shape, elementCount, range.ByteSize);
            try
            {
                region.Read(config.Name, range.Offset, buffer.Bytes);
                if (type == DataType.Bytes)
                {
                    CheckBytesLayout(config.Name, buffer.Bytes, elementCount);
                }
                return buffer;
            }
            catch
            {
                buffer.Dispose();
                throw;
            }
        }
        finally
        {
            region.Release();
        }
    }

    /// <summary>Checks, while decoding, that an output's region exists and holds the range, so a
    /// request that cannot deliver its output fails before it runs.</summary>
    public static void CheckOutput(SharedMemoryClient client, string output, SharedMemoryRange range)
    {
        var region = client.Lease(range.Region, output);
        try
        {
            region.CheckRange(output, range.Offset, range.ByteSize);
        }
        finally
        {
            region.Release();
        }
    }

    /// <summary>Writes every output the request asked for in shared memory into its region.</summary>
    public static void WriteOutputs(SharedMemoryClient client, LoadedModel model, InferenceRequest request, InferenceResponse response)
    {
        if (request.OutputRegions is not { } ranges)
        {
            return;
        }
        for (var index = 0; index < ranges.Length; index++)
        {
            if (ranges[index] is not { } range)
            {
                continue;
            }
            var output = response.Outputs[index];
            var name = model.Config.Outputs[index].Name;
            if (output.ByteLength > range.ByteSize)
            {
                throw Invalid($"output '{name}' holds {output.ByteLength} bytes but its shared_memory_byte_size is {range.ByteSize}");
            }
            var region = client.Lease(range.Region, name);
            try
            {
                region.CheckRange(name, range.Offset, range.ByteSize);
                region.Write(name, range.Offset, output.Bytes);
            }
            finally
            {
                region.Release();
            }
        }
    }
}
