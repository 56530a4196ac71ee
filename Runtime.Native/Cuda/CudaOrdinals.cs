using System.Globalization;
using CudaApi = Fabrik.Native.Cuda.NativeMethods;

namespace Fabrik.Native;

/// <summary>
/// NVML numbers every GPU of the host; CUDA numbers only the GPUs this process may use, in the
/// order CUDA_VISIBLE_DEVICES gives (Slurm, Kubernetes' device plugin and Docker all set it). A
/// job given GPUs 2 and 3 of a node sees them as CUDA devices 0 and 1, and those are the numbers
/// ONNX Runtime's device_id and libtorch's cuda:N take. The two are matched by UUID.
/// </summary>
public static class CudaOrdinals
{
    /// <summary>
    /// The GPUs of <paramref name="nvml"/> that CUDA enumerates, in CUDA ordinal order, each with
    /// <see cref="GpuDevice.Index"/> set to its ordinal and <see cref="GpuDevice.NvmlIndex"/> kept.
    /// Without the CUDA list (no driver API), or when a CUDA device matches no NVML device, the
    /// NVML numbering is returned unchanged: there is nothing better to go on.
    /// </summary>
    /// <param name="nvml">The devices as NVML reports them (Index is the NVML index).</param>
    /// <param name="cudaUuids">The NVML-style UUID of each CUDA device, by ordinal, or null.</param>
    public static IReadOnlyList<GpuDevice> Renumber(IReadOnlyList<GpuDevice> nvml, IReadOnlyList<string>? cudaUuids)
    {
        if (cudaUuids is null)
        {
            return nvml;
        }
        var byUuid = nvml.ToDictionary(device => device.Uuid, StringComparer.OrdinalIgnoreCase);
        var visible = new List<GpuDevice>(cudaUuids.Count);
        for (var ordinal = 0; ordinal < cudaUuids.Count; ordinal++)
        {
            if (!byUuid.TryGetValue(cudaUuids[ordinal], out var device))
            {
                return nvml;
            }
            visible.Add(device with { Index = ordinal });
        }
        return visible;
    }

    /// <summary>NVML's spelling of a CUDA UUID: GPU- and the 16 bytes as 8-4-4-4-12 hex digits.</summary>
    public static string Format(ReadOnlySpan<byte> uuid)
    {
        if (uuid.Length != 16)
        {
            throw new ArgumentException("a CUDA UUID has 16 bytes", nameof(uuid));
        }
        var hex = Convert.ToHexStringLower(uuid);
        return string.Create(CultureInfo.InvariantCulture, $"GPU-{hex[..8]}-{hex[8..12]}-{hex[12..16]}-{hex[16..20]}-{hex[20..]}");
    }

    /// <summary>The UUID of every device the CUDA driver enumerates for this process, or null
    /// when the driver API cannot say (call after cuInit succeeded).</summary>
    public static unsafe IReadOnlyList<string>? QueryUuids()
    {
        if (CudaApi.DeviceGetCount(out var count) != CudaApi.Success)
        {
            return null;
        }
        var uuids = new string[count];
        Span<byte> uuid = stackalloc byte[16];
        for (var ordinal = 0; ordinal < count; ordinal++)
        {
            fixed (byte* bytes = uuid)
            {
                if (CudaApi.DeviceGet(out var device, ordinal) != CudaApi.Success || CudaApi.DeviceGetUuid(bytes, device) != CudaApi.Success)
                {
                    return null;
                }
            }
            uuids[ordinal] = Format(uuid);
        }
        return uuids;
    }
}
