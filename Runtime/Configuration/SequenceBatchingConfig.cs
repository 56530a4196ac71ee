using System.Collections.Immutable;

namespace Fabrik.Configuration;

/// <summary>The <c>sequence_batching</c> block (Triton's ModelSequenceBatching).
/// <see cref="MaxQueueDelayMicroseconds"/> and <see cref="PreferredBatchSizes"/> come from the
/// strategy's own block (<c>direct</c> or <c>oldest</c>).</summary>
internal sealed record SequenceBatchingConfig
{
    /// <summary>Triton's default idle time before a sequence is released: one second.</summary>
    public const long DefaultMaxSequenceIdleMicroseconds = 1_000_000;

    public SequenceStrategy Strategy { get; init; } = SequenceStrategy.Direct;

    public long MaxSequenceIdleMicroseconds { get; init; } = DefaultMaxSequenceIdleMicroseconds;

    public long MaxQueueDelayMicroseconds { get; init; }

    /// <summary>direct: the fraction of slots with a request that sends a batch before the delay.</summary>
    public double MinimumSlotUtilization { get; init; }

    /// <summary>oldest: sequences bound to each instance at once (0: max(1, max_batch_size)).</summary>
    public int MaxCandidateSequences { get; init; }

    public ImmutableArray<int> PreferredBatchSizes { get; init; } = [];

    public bool PreserveOrdering { get; init; }

    public ImmutableArray<SequenceControlInput> Controls { get; init; } = [];

    public ImmutableArray<SequenceStateConfig> States { get; init; } = [];
}
