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

    private protected override int Free(IntPtr address) => NativeMethods.MemFree((ulong)(long)address);
}
