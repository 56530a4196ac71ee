namespace Fabrik.Devices;

/// <summary>Where one execution instance runs: the CPU, or the GPU with CUDA index <see cref="GpuIndex"/>.</summary>
internal readonly record struct InstanceDevice(int? GpuIndex)
{
    public static readonly InstanceDevice Cpu = new(null);

    public bool IsGpu => GpuIndex is not null;

    public override string ToString() => GpuIndex is { } index ? $"GPU {index}" : "CPU";
}
