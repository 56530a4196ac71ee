namespace Fabrik.Scheduling;

/// <summary>The batching rules a planner applies, in TimeProvider ticks.</summary>
internal sealed record BatchingRules(int MaxBatchSize, IReadOnlyList<int> PreferredBatchSizes, long MaxQueueDelayTicks)
{
    /// <summary>Most bytes one gathered input of a batch may take: the tensor pool's largest
    /// array, so that requests valid on their own never make a batch that cannot be gathered.</summary>
    public long MaxTensorBytes { get; init; } = long.MaxValue;

    /// <summary>Bytes per row of the largest output whose size the model fixes (0 when none
    /// does): the batch's rows are capped so that output also fits in <see cref="MaxTensorBytes"/>.</summary>
    public long OutputRowBytes { get; init; }

    /// <summary>No dynamic batching: every request runs on its own.</summary>
    public static readonly BatchingRules None = new(0, [], 0);

    public bool Batches => MaxBatchSize > 0;
}
