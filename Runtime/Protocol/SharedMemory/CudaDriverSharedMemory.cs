using Fabrik.Native;
using Fabrik.Native.Cuda;

namespace Fabrik.Protocol.SharedMemory;

/// <summary>
/// CUDA shared memory through the driver: a handle is opened in the device's primary context
/// (the one the GPU pipeline and ONNX Runtime use), retained on first use and released at
/// shutdown. Where the host has no GPU the device count is 0 and nothing is ever opened.
/// </summary>
/// <remarks>Thread-safe: the contexts are retained under one lock; opening and copying need none.</remarks>
internal sealed class CudaDriverSharedMemory(GpuInventory gpus) : ICudaSharedMemory, IDisposable
{
    private readonly Lock _lock = new();
    private readonly Dictionary<int, CudaContext> _contexts = [];

    public int DeviceCount => gpus.Devices.Count;

    public ICudaIpcMemory Open(int deviceId, ReadOnlySpan<byte> rawHandle)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(deviceId);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(deviceId, DeviceCount);
        var handle = IpcMemHandle.From(rawHandle);
        CudaContext context;
        lock (_lock)
        {
            if (!_contexts.TryGetValue(deviceId, out context!))
            {
                context = CudaContext.Retain(deviceId);
                _contexts.Add(deviceId, context);
            }
        }
        return new DriverIpcMemory(context.OpenIpcMemory(handle));
    }

    /// <summary>Releases the contexts; regions still open keep theirs alive until they close.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
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
