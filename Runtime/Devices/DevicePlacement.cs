using System.Collections.Immutable;
using Fabrik.Configuration;
using Fabrik.Native;

namespace Fabrik.Devices;

/// <summary>
/// Places a model's instance groups on this host's devices, as Triton does: KIND_CPU on the CPU;
/// KIND_GPU on each listed GPU (all GPUs when none are listed), <c>count</c> instances per GPU;
/// KIND_AUTO on the GPUs when the host has them and this build can use them, otherwise on the CPU.
/// A placement that cannot be honoured fails the model's load with a reason that names the group.
/// </summary>
internal static class DevicePlacement
{
    /// <summary>True in the GPU build (-p:Accelerator=cuda), whose ONNX Runtime carries CUDA.</summary>
#if FABRIK_CUDA
    public const bool BuildHasCuda = true;
#else
    public const bool BuildHasCuda = false;
#endif

    /// <summary>True when libtorch carries CUDA too (-p:Accelerator=cuda -p:TorchSharpCuda=true,
    /// TorchSharp-cuda-linux). The GPU build otherwise keeps TorchSharp's CPU libtorch.</summary>
#if FABRIK_TORCH_CUDA
    public const bool LibTorchHasCuda = true;
#else
    public const bool LibTorchHasCuda = false;
#endif

    /// <summary>Why a backend cannot use a GPU in a CPU build.</summary>
    public const string NoCudaBuildReason = "this build has no CUDA support (build with -p:Accelerator=cuda)";

    /// <param name="config">The model's configuration.</param>
    /// <param name="inventory">This host's GPUs.</param>
    /// <param name="defaultCpuInstanceCount">Instances of a CPU group that sets no count: the backend's default
    /// (Triton gives ONNX Runtime 2 and libtorch 1). A GPU group defaults to 1 per GPU.</param>
    /// <param name="buildHasCuda">Whether this build's library for the model's backend carries CUDA.</param>
    /// <param name="noCudaReason">Why it does not, in the operator's terms (default: a CPU build).</param>
    public static Placement Place(ModelConfig config, GpuInventory inventory, int defaultCpuInstanceCount, bool buildHasCuda = BuildHasCuda, string? noCudaReason = null)
    {
        noCudaReason ??= NoCudaBuildReason;
        var groups = ImmutableArray.CreateBuilder<InstanceGroupConfig>();
        var warnings = new List<string>();
        foreach (var group in config.InstanceGroups)
        {
            var kind = group.Kind;
            if (kind == InstanceKind.Auto)
            {
                var gpusUsable = inventory.Devices.Count > 0 && buildHasCuda;
                if (inventory.Devices.Count > 0 && !buildHasCuda)
                {
                    warnings.Add($"instance_group '{group.Name}' (KIND_AUTO) runs on the CPU: this host has {inventory.Devices.Count} GPU(s) but {noCudaReason}");
                }
                kind = gpusUsable ? InstanceKind.Gpu : InstanceKind.Cpu;
            }
            if (kind == InstanceKind.Cpu)
            {
                if (group.Gpus.Length > 0 && group.Kind == InstanceKind.Cpu)
                {
                    throw new InvalidOperationException($"instance_group '{group.Name}' is KIND_CPU but lists gpus [{string.Join(", ", group.Gpus)}]");
                }
                groups.Add(group with { Kind = InstanceKind.Cpu, Count = group.Count > 0 ? group.Count : defaultCpuInstanceCount });
                continue;
            }

            if (inventory.Devices.Count == 0)
            {
                throw new InvalidOperationException($"instance_group '{group.Name}' asks for KIND_GPU, but this host has no GPU ({inventory.Unavailable})");
            }
            var gpus = group.Gpus.Length > 0 ? group.Gpus.ToArray() : inventory.Devices.Select(device => device.Index).ToArray();
            foreach (var gpu in gpus)
            {
                if (inventory.Find(gpu) is null)
                {
                    throw new InvalidOperationException(
                        $"instance_group '{group.Name}' names GPU {gpu}, which does not exist: this host has GPU(s) {string.Join(", ", inventory.Devices.Select(device => device.Index))}");
                }
            }
            if (!buildHasCuda)
            {
                throw new InvalidOperationException($"instance_group '{group.Name}' asks for KIND_GPU, but {noCudaReason}");
            }
            groups.Add(group with { Kind = InstanceKind.Gpu, Count = Math.Max(1, group.Count), Gpus = [.. gpus] });
        }
        return new Placement(groups.ToImmutable(), warnings);
    }
}
