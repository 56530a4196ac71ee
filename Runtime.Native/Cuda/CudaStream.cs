namespace Fabrik.Native.Cuda;

/// <summary>
/// A CUDA stream: work issued on it runs in order, asynchronously to the host. One instance's
/// copies and runs share one stream, so each is ordered after the one before without any
/// synchronisation of the host or of the device as a whole.
/// </summary>
/// <remarks>Thread-safe: the driver orders concurrent submissions; each call makes the context
/// current for itself.</remarks>
public sealed class CudaStream : CudaResource
{
    internal CudaStream(CudaContext context, IntPtr stream)
        : base(context, stream)
    {
    }

    /// <summary>The CUstream, for ONNX Runtime's <c>user_compute_stream</c>. Valid until disposed.</summary>
    public IntPtr Handle => handle;

    /// <summary>Queues a copy of the first <paramref name="bytes"/> of <paramref name="source"/>
    /// to <paramref name="destination"/>; returns at once.</summary>
    public void CopyToDevice(DeviceMemory destination, PinnedHostMemory source, long bytes)
    {
        CheckLength(bytes, destination.Length, source.Length);
        using var scope = Context.Enter();
        CudaResult.Check(NativeMethods.MemcpyHtoDAsync((ulong)(long)destination.Address, source.Pointer, (nuint)bytes, handle), "cuMemcpyHtoDAsync");
    }

    /// <summary>Queues a copy of the first <paramref name="bytes"/> of <paramref name="source"/>
    /// to <paramref name="destination"/>; returns at once. Read the host memory only after an
    /// event recorded behind it has completed.</summary>
    public void CopyToHost(PinnedHostMemory destination, DeviceMemory source, long bytes)
    {
        CheckLength(bytes, destination.Length, source.Length);
        using var scope = Context.Enter();
        CudaResult.Check(NativeMethods.MemcpyDtoHAsync(destination.Pointer, (ulong)(long)source.Address, (nuint)bytes, handle), "cuMemcpyDtoHAsync");
    }

    /// <summary>Records <paramref name="cudaEvent"/> behind the work queued so far.</summary>
    public void Record(CudaEvent cudaEvent)
    {
        using var scope = Context.Enter();
        CudaResult.Check(NativeMethods.EventRecord(cudaEvent.DangerousGetHandle(), handle), "cuEventRecord");
    }

    private static void CheckLength(long bytes, long destination, long source)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(bytes, Math.Min(destination, source));
    }

    private protected override int Free(IntPtr stream) => NativeMethods.StreamDestroy(stream);
}
