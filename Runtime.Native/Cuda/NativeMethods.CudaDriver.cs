using System.Runtime.InteropServices;

namespace Fabrik.Native.Cuda;

/// <summary>The CUDA driver API (libcuda.so.1). Every function returns a CUresult; 0 is
/// CUDA_SUCCESS. Only queries are used: no context is created, so there is nothing to release.</summary>
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
}
