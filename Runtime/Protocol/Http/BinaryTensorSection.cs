using System.Buffers;
using Fabrik.Configuration;
using Fabrik.Tensors;

using static Fabrik.Protocol.RequestValidation;

namespace Fabrik.Protocol.Http;

/// <summary>The binary tensor data after the JSON header, handed out to inputs in the order
/// they appear in the JSON.</summary>
internal struct BinaryTensorSection(ReadOnlySequence<byte> data)
{
    private ReadOnlySequence<byte> _remaining = data;

    public readonly long Remaining => _remaining.Length;

    /// <summary>Copies the next <paramref name="size"/> bytes into a new tensor buffer (the one
    /// copy from the request body), checking them against the shape.</summary>
    public TensorBuffer Take(TensorConfig config, long[] shape, long elementCount, long byteLength, long size, TensorMemoryPool pool)
    {
        if (size > _remaining.Length)
        {
            throw Invalid($"input '{config.Name}' declares binary_data_size {size} but only {_remaining.Length} bytes of binary data remain in the body");
        }
        var type = config.DataType;
        if (type != DataType.Bytes && size != byteLength)
        {
            throw Invalid($"input '{config.Name}': binary_data_size is {size} bytes but shape [{string.Join(",", shape)}] of {type.WireName()} needs {byteLength}");
        }
        if (size > TensorMemoryPool.MaximumLength)
        {
            throw Invalid($"input '{config.Name}' is larger than the {TensorMemoryPool.MaximumLength}-byte tensor limit");
        }
        var buffer = new TensorBuffer(pool, type, shape, elementCount, size);
        _remaining.Slice(0, size).CopyTo(buffer.Bytes);
        _remaining = _remaining.Slice(size);
        if (type == DataType.Bytes)
        {
            try
            {
                CheckBytesLayout(config.Name, buffer.Bytes, elementCount);
            }
            catch
            {
                buffer.Dispose();
                throw;
            }
        }
        return buffer;
    }
}
