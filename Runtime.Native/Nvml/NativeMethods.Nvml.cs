using System.Runtime.InteropServices;

namespace Fabrik.Native.Nvml;

/// <summary>NVML (libnvidia-ml.so.1), the NVIDIA driver's management library. Every function
/// returns an nvmlReturn_t; 0 is success. Device handles belong to the NVML session and are freed
/// by nvmlShutdown, which <see cref="NvmlSession"/> calls.</summary>
internal static partial class NativeMethods
{
    public const string Library = "libnvidia-ml.so.1";

    public const int Success = 0;

    /// <summary>NVML_ERROR_INSUFFICIENT_SIZE: the caller's array is too small; the count says how many.</summary>
    public const int InsufficientSize = 7;

    /// <summary>NVML_VALUE_NOT_AVAILABLE in usedGpuMemory (no permission, or not tracked).</summary>
    public const ulong ValueNotAvailable = ulong.MaxValue;

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

    [LibraryImport(Library, EntryPoint = "nvmlDeviceGetComputeRunningProcesses_v3")]
    public static unsafe partial int DeviceGetComputeRunningProcesses(IntPtr device, ref uint count, ProcessInfo* infos);

    /// <summary>nvmlProcessInfo_t (v2/v3 layout): a process with a CUDA context on the device.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct ProcessInfo
    {
        public uint Pid;
        public ulong UsedGpuMemory;
        public uint GpuInstanceId;
        public uint ComputeInstanceId;
    }

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
