using Fabrik.Configuration;
using Fabrik.Tensors;

namespace Fabrik.Scheduling;

/// <summary>The scheduling parts of a model's configuration, converted to TimeProvider ticks.
/// Without dynamic_batching there is one queue with no timeout and no size limit, and every
/// request runs on its own.</summary>
internal sealed record SchedulerSettings(BatchingRules Rules, int PriorityLevels, int DefaultPriorityLevel, bool PreserveOrdering, DynamicBatchingConfig? Batching)
{
    /// <param name="config">The model's configuration.</param>
    /// <param name="time">The clock the delays are converted for.</param>
    /// <param name="maxTensorBytes">The largest tensor a batch may gather (the tensor pool's).</param>
    public static SchedulerSettings From(ModelConfig config, TimeProvider time, long maxTensorBytes)
    {
        if (config.DynamicBatching is not { } batching)
        {
            return new SchedulerSettings(BatchingRules.None, 0, 1, false, null);
        }
        var delayTicks = (long)(batching.MaxQueueDelayMicroseconds * (time.TimestampFrequency / 1_000_000.0));
        var rules = config.MaxBatchSize > 0
            ? new BatchingRules(config.MaxBatchSize, batching.PreferredBatchSizes, delayTicks) { MaxTensorBytes = maxTensorBytes, OutputRowBytes = LargestOutputRow(config) }
            : BatchingRules.None;
        return new SchedulerSettings(rules, batching.PriorityLevels, Math.Max(1, batching.DefaultPriorityLevel), batching.PreserveOrdering, batching);
    }

    /// <summary>Bytes per batch row of the largest output whose size the configuration fixes
    /// (every dimension known, not BYTES); 0 when none is. Dimensions come from config.pbtxt,
    /// which the parser bounds, and the product is checked for overflow.</summary>
    private static long LargestOutputRow(ModelConfig config)
    {
        long largest = 0;
        foreach (var output in config.Outputs)
        {
            if (output.DataType == DataType.Bytes || output.Dims.Any(dim => dim < 0))
            {
                continue;
            }
            try
            {
                var bytes = checked(output.Dims.Aggregate(1L, (product, dim) => checked(product * dim)) * output.DataType.ElementSize());
                largest = Math.Max(largest, bytes);
            }
            catch (OverflowException)
            {
                largest = long.MaxValue;
            }
        }
        return largest;
    }

    /// <summary>The queue policy of a priority level (1-based).</summary>
    public QueuePolicyConfig PolicyFor(int level) => Batching?.PolicyFor(level) ?? QueuePolicyConfig.Default;
}
