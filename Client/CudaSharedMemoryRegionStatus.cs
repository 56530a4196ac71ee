namespace Fabrik.Client;

/// <summary>A registered CUDA shared-memory region, as the server reports it.</summary>
/// <param name="Name">The name requests use for it.</param>
/// <param name="DeviceId">The CUDA device the memory lives on.</param>
/// <param name="ByteSize">The region's size in bytes.</param>
public sealed record CudaSharedMemoryRegionStatus(string Name, long DeviceId, long ByteSize);
