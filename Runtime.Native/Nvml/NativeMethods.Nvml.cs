using System.Runtime.InteropServices;

namespace Fabrik.Native.Nvml;

/// <summary>NVML (libnvidia-ml.so.1), the NVIDIA driver's management library. Every function
/// returns an nvmlReturn_t; 0 is success. Device handles belong to the NVML session and are freed
/// by nvmlShutdown, which <see cref="NvmlSession"/> calls.</summary>
internal static partial class NativeMethods
{
    public const string Library = "libnvidia-ml.so.1";

    public const int Success = 0;

    [LibraryImport(Library, EntryPoint = "nvmlInit_v2")]
    public static partial int Init();

    [LibraryImport(Library, EntryPoint = "nvmlShutdown")]
    public static partial int Shutdown();

    [LibraryImport(Library, EntryPoint = "nvmlErrorString")]
    public static partial IntPtr ErrorString(int result);

    [LibraryImport(Library, EntryPoint = "nvmlSystemGetDriverVersion")]
    public static unsafe partial int SystemGetDriverVersion(byte* version, uint length);

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetCount_v2")]
    public static partial int DeviceGetCount(out uint count);

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetHandleByIndex_v2")]
    public static partial int DeviceGetHandleByIndex(uint index, out IntPtr device);

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetName")]
    public static unsafe partial int DeviceGetName(IntPtr device, byte* name, uint length);

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetUUID")]
    public static unsafe partial int DeviceGetUuid(IntPtr device, byte* uuid, uint length);

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetMemoryInfo")]
    public static partial int DeviceGetMemoryInfo(IntPtr device, out Memory memory);

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetUtilizationRates")]
    public static partial int DeviceGetUtilizationRates(IntPtr device, out Utilization utilization);

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetPowerUsage")]
    public static partial int DeviceGetPowerUsage(IntPtr device, out uint milliwatts);

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetPowerManagementLimit")]
    public static partial int DeviceGetPowerManagementLimit(IntPtr device, out uint milliwatts);

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetTotalEnergyConsumption")]
    public static partial int DeviceGetTotalEnergyConsumption(IntPtr device, out ulong millijoules);

    /// <summary>nvmlMemory_t: bytes.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Memory
    {
        public ulong Total;
        public ulong Free;
        public ulong Used;
    }

    /// <summary>nvmlUtilization_t: percent over the last sample period.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Utilization
    {
        public uint Gpu;
        public uint Memory;
    }
}
