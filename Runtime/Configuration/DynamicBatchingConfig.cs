using System.Collections.Immutable;

namespace Fabrik.Configuration;

/// <summary>The dynamic_batching block. Priority levels run from 1 (highest) to
/// <see cref="PriorityLevels"/>; 0 levels means one queue and no priorities.</summary>
internal sealed record DynamicBatchingConfig(ImmutableArray<int> PreferredBatchSizes, long MaxQueueDelayMicroseconds, bool PreserveOrdering)
{
    public int PriorityLevels { get; init; }

    public int DefaultPriorityLevel { get; init; }

    public QueuePolicyConfig DefaultQueuePolicy { get; init; } = QueuePolicyConfig.Default;

    /// <summary>Policies that override <see cref="DefaultQueuePolicy"/> for some levels.</summary>
    public ImmutableDictionary<int, QueuePolicyConfig> PriorityQueuePolicies { get; init; } = ImmutableDictionary<int, QueuePolicyConfig>.Empty;

    /// <summary>The policy of one priority level.</summary>
    public QueuePolicyConfig PolicyFor(int level) => PriorityQueuePolicies.TryGetValue(level, out var policy) ? policy : DefaultQueuePolicy;
}
