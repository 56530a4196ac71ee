using System.Runtime.InteropServices;
using Fabrik.Native.Nvml;
using CudaApi = Fabrik.Native.Cuda.NativeMethods;
using NvmlApi = Fabrik.Native.Nvml.NativeMethods;

namespace Fabrik.Native;

/// <summary>One GPU as NVML reports it.</summary>
/// <param name="Index">The CUDA device ordinal this process sees (after CUDA_VISIBLE_DEVICES), as
/// instance_group's <c>gpus</c>, ONNX Runtime's device_id and <c>cuda:N</c> name it. It equals
/// the NVML index only where every GPU is visible; see <see cref="NvmlIndex"/>.</param>
/// <param name="Uuid">Stable identifier, for example GPU-8c2f...</param>
/// <param name="Name">Product name.</param>
/// <param name="TotalMemoryBytes">Device memory.</param>
/// <param name="UsedMemoryBytes">Device memory in use at the time of the query.</param>
/// <param name="UtilizationPercent">GPU utilisation over NVML's last sample period.</param>
public sealed record GpuDevice(int Index, string Uuid, string Name, ulong TotalMemoryBytes, ulong UsedMemoryBytes, uint UtilizationPercent)
{
    /// <summary>The NVML index of the same GPU (for NVML queries such as utilisation).</summary>
    public int NvmlIndex { get; init; } = Index;
}

/// <summary>
/// The GPUs this host offers, from NVML, cross-checked with the CUDA driver API. On a host without
/// an NVIDIA driver the inventory is empty and <see cref="Unavailable"/> says why; querying never
/// throws.
/// </summary>
/// <param name="Devices">The GPUs, by index.</param>
/// <param name="DriverVersion">The driver version NVML reports, or null.</param>
/// <param name="CudaDriverVersion">The CUDA driver API version (for example 13000), or null.</param>
/// <param name="Unavailable">Why there is no GPU, or null when there are GPUs.</param>
public sealed record GpuInventory(IReadOnlyList<GpuDevice> Devices, string? DriverVersion, int? CudaDriverVersion, string? Unavailable)
{
    /// <summary>Queries the host now.</summary>
    public static GpuInventory Query()
    {
        if (!NativeLibrary.TryLoad(NvmlApi.Library, out var nvml))
        {
            return None($"no GPU: {NvmlApi.Library} could not be loaded (no NVIDIA driver on this host)");
        }
        NativeLibrary.Free(nvml);
        try
        {
            using var session = NvmlSession.Open();
            var driver = NvmlSession.ReadString((buffer, length) => SystemDriverVersion(buffer, length), "nvmlSystemGetDriverVersion");
            NvmlSession.Check(NvmlApi.DeviceGetCount(out var count), "nvmlDeviceGetCount");
            var devices = new List<GpuDevice>((int)count);
            for (uint index = 0; index < count; index++)
            {
                NvmlSession.Check(NvmlApi.DeviceGetHandleByIndex(index, out var device), "nvmlDeviceGetHandleByIndex");
                var name = NvmlSession.ReadString((buffer, length) => DeviceName(device, buffer, length), "nvmlDeviceGetName");
                var uuid = NvmlSession.ReadString((buffer, length) => DeviceUuid(device, buffer, length), "nvmlDeviceGetUUID");
                NvmlSession.Check(NvmlApi.DeviceGetMemoryInfo(device, out var memory), "nvmlDeviceGetMemoryInfo");
                // Utilisation is not supported on every device (some MIG slices); report 0 there.
                var utilization = NvmlApi.DeviceGetUtilizationRates(device, out var rates) == NvmlApi.Success ? rates.Gpu : 0;
                devices.Add(new GpuDevice((int)index, uuid, name, memory.Total, memory.Used, utilization));
            }
            var cuda = CudaVersion();
            devices = [.. CudaOrdinals.Renumber(devices, cuda is null ? null : CudaOrdinals.QueryUuids())];
            return devices.Count == 0
                ? new GpuInventory([], driver, cuda, "no GPU: the NVIDIA driver reports no devices")
                : new GpuInventory(devices, driver, cuda, null);
        }
        catch (Exception e) when (e is NativeException or DllNotFoundException or EntryPointNotFoundException)
        {
            return None($"no GPU: {e.Message}");
        }
    }

    /// <summary>
    /// The device memory process <paramref name="processId"/> holds on each GPU of this inventory
    /// where it has a CUDA context, by CUDA index, as NVML's running-process list reports it (0
    /// where NVML does not tell the amount). A GPU absent from the answer holds nothing of it:
    /// this is how a placement is verified from outside the process.
    /// </summary>
    /// <exception cref="NativeException">NVML failed.</exception>
    public unsafe IReadOnlyDictionary<int, ulong> MemoryUsedBy(int processId)
    {
        var used = new Dictionary<int, ulong>();
        using var session = NvmlSession.Open();
        foreach (var gpu in Devices)
        {
            NvmlSession.Check(NvmlApi.DeviceGetHandleByIndex((uint)gpu.NvmlIndex, out var device), "nvmlDeviceGetHandleByIndex");
            var count = 0u;
            var result = NvmlApi.DeviceGetComputeRunningProcesses(device, ref count, null);
            if (result == NvmlApi.Success)
            {
                continue; // no process has a context there
            }
            if (result != NvmlApi.InsufficientSize)
            {
                NvmlSession.Check(result, "nvmlDeviceGetComputeRunningProcesses");
            }
            count += 8; // processes may start between the two calls
            var infos = new NvmlApi.ProcessInfo[count];
            fixed (NvmlApi.ProcessInfo* first = infos)
            {
                NvmlSession.Check(NvmlApi.DeviceGetComputeRunningProcesses(device, ref count, first), "nvmlDeviceGetComputeRunningProcesses");
            }
            foreach (var info in infos.AsSpan(0, (int)count))
            {
                if (info.Pid == (uint)processId)
                {
                    used[gpu.Index] = used.GetValueOrDefault(gpu.Index) + (info.UsedGpuMemory == NvmlApi.ValueNotAvailable ? 0 : info.UsedGpuMemory);
                }
            }
        }
        return used;
    }

    /// <summary>An empty inventory with its reason.</summary>
    public static GpuInventory None(string reason) => new([], null, null, reason);

    /// <summary>The device with NVML index <paramref name="index"/>, or null.</summary>
    public GpuDevice? Find(int index) => Devices.FirstOrDefault(device => device.Index == index);

    private static int? CudaVersion()
    {
        if (!NativeLibrary.TryLoad(CudaApi.Library, out var cuda))
        {
            return null;
        }
        NativeLibrary.Free(cuda);
        return CudaApi.Init(0) == CudaApi.Success && CudaApi.DriverGetVersion(out var version) == CudaApi.Success ? version : null;
    }

    private static unsafe int SystemDriverVersion(IntPtr buffer, uint length) => NvmlApi.SystemGetDriverVersion((byte*)buffer, length);

    private static unsafe int DeviceName(IntPtr device, IntPtr buffer, uint length) => NvmlApi.DeviceGetName(device, (byte*)buffer, length);

    private static unsafe int DeviceUuid(IntPtr device, IntPtr buffer, uint length) => NvmlApi.DeviceGetUuid(device, (byte*)buffer, length);
}
