using System.Collections.Immutable;
using Fabrik.Configuration;

namespace Fabrik.Devices;

/// <summary>The placements of a model's instances, and warnings worth logging about them.</summary>
/// <param name="Groups">The instance groups as placed, the way Triton normalizes them: KIND_AUTO
/// resolved to KIND_CPU or KIND_GPU, an unset count given its default, and a KIND_GPU group's
/// GPUs listed. The model's configuration reports these.</param>
/// <param name="Warnings">What the operator should know (KIND_AUTO fell back to the CPU).</param>
internal sealed record Placement(ImmutableArray<InstanceGroupConfig> Groups, IReadOnlyList<string> Warnings)
{
    /// <summary>One device per instance, group by group: Count on the CPU, or Count on each GPU.</summary>
    public IReadOnlyList<InstanceDevice> Instances { get; } = Groups
        .SelectMany(group => group.Kind == InstanceKind.Gpu
            ? group.Gpus.SelectMany(gpu => Enumerable.Repeat(new InstanceDevice(gpu), group.Count))
            : Enumerable.Repeat(InstanceDevice.Cpu, group.Count))
        .ToArray();
}
