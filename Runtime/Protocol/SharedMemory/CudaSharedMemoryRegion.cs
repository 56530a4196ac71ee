using Fabrik.Errors;

namespace Fabrik.Protocol.SharedMemory;

/// <summary>
/// One registered CUDA shared-memory region: the first <see cref="SharedMemoryRegion.ByteSize"/>
/// bytes of another process's device allocation on device <see cref="DeviceId"/>. Inputs are
/// copied from the device into the request's pooled host buffer and outputs back onto it, each
/// within the allocation's real size (checked at registration, and by the memory again per copy).
/// </summary>
/// <remarks>The IPC mapping closes with the last lease. Thread-safe.</remarks>
internal sealed partial class CudaSharedMemoryRegion(string name, int deviceId, long byteSize, ICudaIpcMemory memory, ILogger logger)
    : SharedMemoryRegion(name, byteSize)
{
    public int DeviceId { get; } = deviceId;

    public override string Kind => "cuda";

    public override void Read(string tensor, long offset, Span<byte> destination)
    {
        try
        {
            memory.CopyToHost(offset, destination);
        }
        catch (Exception e) when (e is not InferenceException)
        {
            throw CopyFailed(tensor, e);
        }
    }

    public override void Write(string tensor, long offset, ReadOnlySpan<byte> source)
    {
        try
        {
            memory.CopyFromHost(offset, source);
        }
        catch (Exception e) when (e is not InferenceException)
        {
            throw CopyFailed(tensor, e);
        }
    }

    protected override void Close() => memory.Dispose();

    /// <summary>The driver's own message goes to the server log only.</summary>
    private InferenceException CopyFailed(string tensor, Exception cause)
    {
        LogCopyFailed(Name, DeviceId, cause.Message);
        return new(ErrorKind.InvalidArgument,
            $"tensor '{tensor}': the device memory behind CUDA shared memory region '{Name}' could not be copied (was it freed?); register it again", cause);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "CUDA shared memory region '{Name}' on device {Device}: a copy failed: {Reason}")]
    private partial void LogCopyFailed(string name, int device, string reason);
}
