namespace Fabrik.Native.Cuda;

/// <summary>Device memory from cuMemAlloc.</summary>
public sealed class DeviceMemory : CudaResource
{
    internal DeviceMemory(CudaContext context, ulong address, long length)
        : base(context, (IntPtr)(long)address) => Length = length;

    /// <summary>Bytes allocated.</summary>
    public long Length { get; }

    /// <summary>The device address (a CUdeviceptr), for ONNX Runtime to bind a tensor to.</summary>
    public IntPtr Address => handle;

    /// <summary>The CUDA IPC handle that lets another process open this allocation.</summary>
    /// <exception cref="NativeException">The driver refused (its message included).</exception>
    public IpcMemHandle ExportIpcHandle()
    {
        using var scope = Context.Enter();
        CudaResult.Check(NativeMethods.IpcGetMemHandle(out var ipcHandle, (ulong)(long)handle), "cuIpcGetMemHandle");
        return ipcHandle;
    }

    /// <summary>Copies <paramref name="source"/> to the start of the allocation, and waits until the
    /// device has it (a copy from pageable memory may return earlier): for tests and the load
    /// generator, which then hand the memory to another process.</summary>
    public unsafe void CopyFromHost(ReadOnlySpan<byte> source)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(source.Length, Length);
        using var scope = Context.Enter();
        fixed (byte* bytes = source)
        {
            CudaResult.Check(NativeMethods.MemcpyHtoD((ulong)(long)handle, (IntPtr)bytes, (nuint)source.Length), "cuMemcpyHtoD");
            CudaResult.Check(NativeMethods.CtxSynchronize(), "cuCtxSynchronize");
        }
    }

    /// <summary>Copies the allocation's first <paramref name="destination"/>.Length bytes to the host (synchronously).</summary>
    public unsafe void CopyToHost(Span<byte> destination)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(destination.Length, Length);
        using var scope = Context.Enter();
        fixed (byte* bytes = destination)
        {
            CudaResult.Check(NativeMethods.MemcpyDtoH((IntPtr)bytes, (ulong)(long)handle, (nuint)destination.Length), "cuMemcpyDtoH");
        }
    }

    private protected override int Free(IntPtr address) => NativeMethods.MemFree((ulong)(long)address);
}
