namespace Fabrik.Inference;

/// <summary>Where a tensor lies in a registered shared-memory region: the request parameters
/// shared_memory_region, shared_memory_offset and shared_memory_byte_size (all non-negative).</summary>
internal readonly record struct SharedMemoryRange(string Region, long Offset, long ByteSize);
