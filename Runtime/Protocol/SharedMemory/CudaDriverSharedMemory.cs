using Fabrik.Native;
using Fabrik.Native.Cuda;

namespace Fabrik.Protocol.SharedMemory;

/// <summary>
/// CUDA shared memory through the driver: a handle is opened in the device's primary context
/// (the one the GPU pipeline and ONNX Runtime use), retained on first use and released at
/// shutdown. Where the host has no GPU the device count is 0 and nothing is ever opened.
/// </summary>
/// <remarks>Thread-safe: contexts are retained, handles opened and the contexts released at
/// shutdown under one lock; an opened mapping holds a reference on its context, so it outlives
/// the release.</remarks>
internal sealed class CudaDriverSharedMemory(GpuInventory gpus) : ICudaSharedMemory, IDisposable
{
    private readonly Lock _lock = new();
    private readonly Dictionary<int, CudaContext> _contexts = [];

    private bool _disposed;

    /// <summary>NVML's devices, where the CUDA driver answered too (without it no handle opens).</summary>
    public int DeviceCount => gpus.CudaDriverVersion is null ? 0 : gpus.Devices.Count;

    public ICudaIpcMemory Open(int deviceId, ReadOnlySpan<byte> rawHandle)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(deviceId);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(deviceId, DeviceCount);
        var handle = IpcMemHandle.From(rawHandle);
        // Opened under the lock, so that shutdown cannot release the context in between;
        // registrations are rare.
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_contexts.TryGetValue(deviceId, out var context))
            {
                context = CudaContext.Retain(deviceId);
                _contexts.Add(deviceId, context);
            }
            return new DriverIpcMemory(context.OpenIpcMemory(handle));
        }
    }

    /// <summary>Releases the contexts; regions still open keep theirs alive until they close.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            _disposed = true;
            foreach (var context in _contexts.Values)
            {
                context.Dispose();
            }
            _contexts.Clear();
        }
    }

    private sealed class DriverIpcMemory(IpcDeviceMemory memory) : ICudaIpcMemory
    {
        public long Length => memory.Length;

        public void CopyToHost(long offset, Span<byte> destination) => memory.CopyToHost(offset, destination);

        public void CopyFromHost(long offset, ReadOnlySpan<byte> source) => memory.CopyFromHost(offset, source);

        public void Dispose() => memory.Dispose();
    }
}
