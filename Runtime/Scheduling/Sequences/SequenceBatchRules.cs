using Fabrik.Configuration;

namespace Fabrik.Scheduling.Sequences;

/// <summary>The sequence batcher's settings for one model, delays in TimeProvider ticks.
/// <see cref="MaxRows"/> is the most rows a batch may have (max_batch_size, 1 for a model that does
/// not batch); <see cref="SlotsPerInstance"/> how many sequences each instance holds at once.</summary>
internal sealed record SequenceBatchRules(
    SequenceStrategy Strategy, int MaxRows, int SlotsPerInstance, long MaxQueueDelayTicks, double MinimumSlotUtilization, IReadOnlyList<int> PreferredBatchSizes)
{
    public static SequenceBatchRules From(ModelConfig config, SequenceBatchingConfig sequences, TimeProvider time)
    {
        var maxRows = Math.Max(1, config.MaxBatchSize);
        var slots = sequences.Strategy == SequenceStrategy.Oldest && sequences.MaxCandidateSequences > 0 ? sequences.MaxCandidateSequences : maxRows;
        var delay = (long)Math.Min(sequences.MaxQueueDelayMicroseconds * (time.TimestampFrequency / 1_000_000.0), long.MaxValue / 2);
        return new SequenceBatchRules(sequences.Strategy, maxRows, slots, delay, sequences.MinimumSlotUtilization, sequences.PreferredBatchSizes);
    }
}
