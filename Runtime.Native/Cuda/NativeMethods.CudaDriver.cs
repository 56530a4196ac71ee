using System.Runtime.InteropServices;

namespace Fabrik.Native.Cuda;

/// <summary>The CUDA driver API (libcuda.so.1). Every function returns a CUresult; 0 is
/// CUDA_SUCCESS. The inventory only queries; the GPU pipeline retains a device's primary context
/// (the one ONNX Runtime's CUDA runtime calls use too) and makes its streams, events, page-locked
/// host buffers and device buffers in it, each released through its SafeHandle
/// (<see cref="CudaResource"/>).</summary>
internal static partial class NativeMethods
{
    public const string Library = "libcuda.so.1";

    public const int Success = 0;

    [LibraryImport(Library, EntryPoint = "cuInit")]
    public static partial int Init(uint flags);

    [LibraryImport(Library, EntryPoint = "cuDriverGetVersion")]
    public static partial int DriverGetVersion(out int version);

    [LibraryImport(Library, EntryPoint = "cuDeviceGetCount")]
    public static partial int DeviceGetCount(out int count);

    [LibraryImport(Library, EntryPoint = "cuDeviceGet")]
    public static partial int DeviceGet(out int device, int ordinal);

    /// <summary>The 16-byte UUID of the physical GPU behind <paramref name="device"/> (the same
    /// bytes NVML prints as GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx).</summary>
    [LibraryImport(Library, EntryPoint = "cuDeviceGetUuid")]
    public static unsafe partial int DeviceGetUuid(byte* uuid, int device);

    [LibraryImport(Library, EntryPoint = "cuGetErrorString")]
    public static partial int GetErrorString(int result, out IntPtr message);

    /// <summary>cuStreamCreate flag: the stream does not synchronise with the legacy default
    /// stream, so another session's work on stream 0 never orders this instance's copies and runs.</summary>
    public const uint StreamNonBlocking = 0x1;

    /// <summary>cuEventCreate flags: a waiting host thread sleeps instead of spinning (the cores
    /// serve HTTP meanwhile), and no timing is recorded.</summary>
    public const uint EventBlockingSyncWithoutTiming = 0x1 | 0x2;

    /// <summary>cuMemHostAlloc flag: the page-locked memory counts as pinned for every context.</summary>
    public const uint HostAllocPortable = 0x1;

    [LibraryImport(Library, EntryPoint = "cuDevicePrimaryCtxRetain")]
    public static partial int DevicePrimaryCtxRetain(out IntPtr context, int device);

    [LibraryImport(Library, EntryPoint = "cuDevicePrimaryCtxRelease_v2")]
    public static partial int DevicePrimaryCtxRelease(int device);

    [LibraryImport(Library, EntryPoint = "cuCtxPushCurrent_v2")]
    public static partial int CtxPushCurrent(IntPtr context);

    [LibraryImport(Library, EntryPoint = "cuCtxPopCurrent_v2")]
    public static partial int CtxPopCurrent(out IntPtr context);

    [LibraryImport(Library, EntryPoint = "cuStreamCreate")]
    public static partial int StreamCreate(out IntPtr stream, uint flags);

    [LibraryImport(Library, EntryPoint = "cuStreamDestroy_v2")]
    public static partial int StreamDestroy(IntPtr stream);

    [LibraryImport(Library, EntryPoint = "cuEventCreate")]
    public static partial int EventCreate(out IntPtr cudaEvent, uint flags);

    [LibraryImport(Library, EntryPoint = "cuEventRecord")]
    public static partial int EventRecord(IntPtr cudaEvent, IntPtr stream);

    [LibraryImport(Library, EntryPoint = "cuEventSynchronize")]
    public static partial int EventSynchronize(IntPtr cudaEvent);

    [LibraryImport(Library, EntryPoint = "cuEventDestroy_v2")]
    public static partial int EventDestroy(IntPtr cudaEvent);

    [LibraryImport(Library, EntryPoint = "cuMemHostAlloc")]
    public static partial int MemHostAlloc(out IntPtr pointer, nuint bytes, uint flags);

    [LibraryImport(Library, EntryPoint = "cuMemFreeHost")]
    public static partial int MemFreeHost(IntPtr pointer);

    [LibraryImport(Library, EntryPoint = "cuMemAlloc_v2")]
    public static partial int MemAlloc(out ulong devicePointer, nuint bytes);

    [LibraryImport(Library, EntryPoint = "cuMemFree_v2")]
    public static partial int MemFree(ulong devicePointer);

    [LibraryImport(Library, EntryPoint = "cuMemcpyHtoDAsync_v2")]
    public static partial int MemcpyHtoDAsync(ulong destination, IntPtr source, nuint bytes, IntPtr stream);

    [LibraryImport(Library, EntryPoint = "cuMemcpyDtoHAsync_v2")]
    public static partial int MemcpyDtoHAsync(IntPtr destination, ulong source, nuint bytes, IntPtr stream);

    [LibraryImport(Library, EntryPoint = "cuStreamSynchronize")]
    public static partial int StreamSynchronize(IntPtr stream);

    [LibraryImport(Library, EntryPoint = "cuCtxSynchronize")]
    public static partial int CtxSynchronize();

    [LibraryImport(Library, EntryPoint = "cuMemcpyHtoD_v2")]
    public static partial int MemcpyHtoD(ulong destination, IntPtr source, nuint bytes);

    [LibraryImport(Library, EntryPoint = "cuMemcpyDtoH_v2")]
    public static partial int MemcpyDtoH(IntPtr destination, ulong source, nuint bytes);

    /// <summary>The allocation that <paramref name="address"/> lies in: its base and size.</summary>
    [LibraryImport(Library, EntryPoint = "cuMemGetAddressRange_v2")]
    public static partial int MemGetAddressRange(out ulong baseAddress, out nuint size, ulong address);

    /// <summary>cuIpcOpenMemHandle flag: let peer access be enabled lazily (the only flag there is).</summary>
    public const uint IpcMemLazyEnablePeerAccess = 0x1;

    [LibraryImport(Library, EntryPoint = "cuIpcGetMemHandle")]
    public static partial int IpcGetMemHandle(out IpcMemHandle handle, ulong address);

    [LibraryImport(Library, EntryPoint = "cuIpcOpenMemHandle_v2")]
    public static partial int IpcOpenMemHandle(out ulong address, IpcMemHandle handle, uint flags);

    [LibraryImport(Library, EntryPoint = "cuIpcCloseMemHandle")]
    public static partial int IpcCloseMemHandle(ulong address);
}
