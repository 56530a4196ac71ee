using System.Collections.Immutable;

namespace Fabrik.Configuration;

/// <summary>An instance_group entry: <see cref="Count"/> instances of the model on each of
/// <see cref="Gpus"/> (or on the CPU). A count of <see cref="DefaultCount"/> (0) is unset, as in
/// Triton: placement gives it the backend's default (see DevicePlacement).</summary>
internal sealed record InstanceGroupConfig(string Name, int Count, InstanceKind Kind, ImmutableArray<int> Gpus)
{
    /// <summary>The count of a group that sets none.</summary>
    public const int DefaultCount = 0;
}
