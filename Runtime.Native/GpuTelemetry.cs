using System.Runtime.InteropServices;
using Fabrik.Native.Nvml;
using NvmlApi = Fabrik.Native.Nvml.NativeMethods;

namespace Fabrik.Native;

/// <summary>One GPU's figures at one moment, as the metrics endpoint reports them.</summary>
/// <param name="Uuid">The GPU's UUID (the <c>gpu_uuid</c> label).</param>
/// <param name="Utilization">Busy fraction over NVML's last sample period, 0 to 1.</param>
/// <param name="MemoryTotalBytes">Device memory.</param>
/// <param name="MemoryUsedBytes">Device memory in use.</param>
/// <param name="PowerWatts">Power draw now; null where the device does not report it.</param>
/// <param name="PowerLimitWatts">Power management limit; null where not reported.</param>
/// <param name="EnergyJoules">Energy used since the telemetry was opened; null where not reported.</param>
public sealed record GpuSample(string Uuid, double Utilization, ulong MemoryTotalBytes, ulong MemoryUsedBytes,
    double? PowerWatts, double? PowerLimitWatts, double? EnergyJoules);

/// <summary>
/// An open NVML session that samples every GPU on request, for the metrics endpoint. Opening
/// never throws: on a host without a driver or without GPUs it returns null and the reason.
/// </summary>
/// <remarks>Not thread-safe: one sampler thread calls <see cref="Sample"/>. Device handles belong
/// to the session and are valid until <see cref="Dispose"/>.</remarks>
public sealed class GpuTelemetry : IDisposable
{
    private readonly NvmlSession _session;
    private readonly (IntPtr Handle, string Uuid, ulong EnergyAtOpen)[] _devices;

    private GpuTelemetry(NvmlSession session, (IntPtr, string, ulong)[] devices)
    {
        _session = session;
        _devices = devices;
    }

    /// <summary>Opens NVML and finds the GPUs; null (and <paramref name="unavailable"/> says why)
    /// where there are none.</summary>
    public static GpuTelemetry? TryOpen(out string? unavailable)
    {
        if (!NativeLibrary.TryLoad(NvmlApi.Library, out var nvml))
        {
            unavailable = $"{NvmlApi.Library} could not be loaded (no NVIDIA driver on this host)";
            return null;
        }
        NativeLibrary.Free(nvml);
        NvmlSession? session = null;
        try
        {
            session = NvmlSession.Open();
            NvmlSession.Check(NvmlApi.DeviceGetCount(out var count), "nvmlDeviceGetCount");
            if (count == 0)
            {
                unavailable = "the NVIDIA driver reports no devices";
                session.Dispose();
                return null;
            }
            var devices = new (IntPtr, string, ulong)[count];
            for (uint index = 0; index < count; index++)
            {
                NvmlSession.Check(NvmlApi.DeviceGetHandleByIndex(index, out var device), "nvmlDeviceGetHandleByIndex");
                var uuid = NvmlSession.ReadString((buffer, length) => DeviceUuid(device, buffer, length), "nvmlDeviceGetUUID");
                var energy = NvmlApi.DeviceGetTotalEnergyConsumption(device, out var millijoules) == NvmlApi.Success ? millijoules : 0;
                devices[index] = (device, uuid, energy);
            }
            unavailable = null;
            return new GpuTelemetry(session, devices);
        }
        catch (Exception e) when (e is NativeException or DllNotFoundException or EntryPointNotFoundException)
        {
            session?.Dispose();
            unavailable = e.Message;
            return null;
        }
    }

    /// <summary>Number of GPUs sampled.</summary>
    public int Count => _devices.Length;

    /// <summary>Reads every GPU now. A figure a device does not report is null (utilisation 0).</summary>
    public GpuSample[] Sample()
    {
        var samples = new GpuSample[_devices.Length];
        for (var i = 0; i < _devices.Length; i++)
        {
            var (device, uuid, energyAtOpen) = _devices[i];
            var utilization = NvmlApi.DeviceGetUtilizationRates(device, out var rates) == NvmlApi.Success ? rates.Gpu / 100.0 : 0;
            var memory = NvmlApi.DeviceGetMemoryInfo(device, out var info) == NvmlApi.Success ? info : default;
            double? power = NvmlApi.DeviceGetPowerUsage(device, out var milliwatts) == NvmlApi.Success ? milliwatts / 1000.0 : null;
            double? limit = NvmlApi.DeviceGetPowerManagementLimit(device, out var limitMilliwatts) == NvmlApi.Success ? limitMilliwatts / 1000.0 : null;
            double? energy = NvmlApi.DeviceGetTotalEnergyConsumption(device, out var millijoules) == NvmlApi.Success
                ? (millijoules - Math.Min(millijoules, energyAtOpen)) / 1000.0
                : null;
            samples[i] = new GpuSample(uuid, utilization, memory.Total, memory.Used, power, limit, energy);
        }
        return samples;
    }

    /// <summary>Closes the NVML session.</summary>
    public void Dispose() => _session.Dispose();

    private static unsafe int DeviceUuid(IntPtr device, IntPtr buffer, uint length) => NvmlApi.DeviceGetUuid(device, (byte*)buffer, length);
}
