using System.Collections.Immutable;

namespace Fabrik.Configuration;

/// <summary>optimization: the graph optimization level (null for the backend's default) and the
/// GPU execution accelerators (for example tensorrt with precision_mode FP16).</summary>
internal sealed record OptimizationConfig(int? GraphLevel, ImmutableArray<ExecutionAccelerator> GpuAccelerators)
{
    public static readonly OptimizationConfig Default = new(null, []);
}
