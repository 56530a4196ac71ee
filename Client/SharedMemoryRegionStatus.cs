namespace Fabrik.Client;

/// <summary>A registered system shared-memory region, as the server reports it.</summary>
/// <param name="Name">The name requests use for it.</param>
/// <param name="Key">The shared-memory object's key (<c>/name</c>, as <c>shm_open</c> names it).</param>
/// <param name="Offset">Where the region starts in the object.</param>
/// <param name="ByteSize">The region's size in bytes.</param>
public sealed record SharedMemoryRegionStatus(string Name, string Key, long Offset, long ByteSize);
