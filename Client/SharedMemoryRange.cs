namespace Fabrik.Client;

/// <summary>
/// Where a tensor lies in a registered system shared-memory region (Triton's extension): the
/// region's name, the tensor's size in bytes and its offset from the region's start. An input
/// created with <see cref="InferInput.CreateInSharedMemory"/> is read there by the server instead
/// of travelling in the request; an output asked with <see cref="InferRequest.WithOutput(string, SharedMemoryRange)"/>
/// is written there instead of travelling in the answer.
/// </summary>
public sealed record SharedMemoryRange
{
    /// <summary>A range of <paramref name="byteSize"/> bytes at <paramref name="offset"/> in <paramref name="region"/>.</summary>
    /// <exception cref="ArgumentException">The region name is empty, or the size or offset negative.</exception>
    public SharedMemoryRange(string region, long byteSize, long offset = 0)
    {
        ArgumentException.ThrowIfNullOrEmpty(region);
        ArgumentOutOfRangeException.ThrowIfNegative(byteSize);
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        Region = region;
        ByteSize = byteSize;
        Offset = offset;
    }

    /// <summary>The registered region's name (<c>shared_memory_region</c>).</summary>
    public string Region { get; }

    /// <summary>The tensor's size in bytes (<c>shared_memory_byte_size</c>).</summary>
    public long ByteSize { get; }

    /// <summary>Where the tensor starts, from the region's start (<c>shared_memory_offset</c>).</summary>
    public long Offset { get; }
}
