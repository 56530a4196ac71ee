using System.Globalization;
using System.Text;
using Fabrik.Native;

namespace Fabrik.Devices;

/// <summary>The text of <c>fabrik devices</c>: each GPU with its memory, or "no GPU" and why.</summary>
internal static class DeviceReport
{
    public static string Describe(GpuInventory inventory)
    {
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"CPU: {Environment.ProcessorCount} logical cores");
        text.AppendLine(CultureInfo.InvariantCulture, $"CUDA execution: {(DevicePlacement.BuildHasCuda ? "available in this build (ONNX Runtime)" : "not in this build (CPU packages; build with -p:Accelerator=cuda)")}");
        if (inventory.Devices.Count == 0)
        {
            text.AppendLine(inventory.Unavailable ?? "no GPU");
            return text.ToString();
        }
        text.AppendLine(CultureInfo.InvariantCulture, $"NVIDIA driver {inventory.DriverVersion}, CUDA driver API {FormatCuda(inventory.CudaDriverVersion)}");
        foreach (var gpu in inventory.Devices)
        {
            text.AppendLine(CultureInfo.InvariantCulture,
                $"GPU {gpu.Index}{(gpu.NvmlIndex == gpu.Index ? "" : $" (NVML index {gpu.NvmlIndex})")}: {gpu.Name} ({gpu.Uuid}), memory {Gib(gpu.UsedMemoryBytes)} of {Gib(gpu.TotalMemoryBytes)} GiB used, utilisation {gpu.UtilizationPercent}%");
        }
        return text.ToString();
    }

    private static string Gib(ulong bytes) => (bytes / (1024.0 * 1024 * 1024)).ToString("F1", CultureInfo.InvariantCulture);

    private static string FormatCuda(int? version) => version is { } v ? $"{v / 1000}.{v % 1000 / 10}" : "unavailable";
}
