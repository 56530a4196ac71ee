namespace Fabrik.Protocol.SharedMemory;

/// <summary>
/// Where CUDA shared-memory regions come from: the CUDA driver's IPC calls on a GPU host
/// (<see cref="CudaDriverSharedMemory"/>), a simulated device in tests.
/// </summary>
internal interface ICudaSharedMemory
{
    /// <summary>The CUDA devices a region may live on (0 to this - 1); 0 where there is no GPU.</summary>
    int DeviceCount { get; }

    /// <summary>Opens the device allocation that <paramref name="rawHandle"/> (a CUDA IPC handle of
    /// another process) names on device <paramref name="deviceId"/>.</summary>
    /// <exception cref="Exception">The handle could not be opened; the message is for the server
    /// log only (it may be the driver's own).</exception>
    ICudaIpcMemory Open(int deviceId, ReadOnlySpan<byte> rawHandle);
}

/// <summary>Another process's device allocation, opened; closed when disposed. Copies are
/// synchronous and may run on several threads at once.</summary>
internal interface ICudaIpcMemory : IDisposable
{
    /// <summary>Bytes from the opened address to the end of the allocation, as the driver reports it.</summary>
    long Length { get; }

    /// <summary>Copies <paramref name="destination"/>'s length from <paramref name="offset"/> to the host.</summary>
    void CopyToHost(long offset, Span<byte> destination);

    /// <summary>Copies <paramref name="source"/> to <paramref name="offset"/> on the device.</summary>
    void CopyFromHost(long offset, ReadOnlySpan<byte> source);
}
