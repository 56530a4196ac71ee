namespace Fabrik.Scheduling;

/// <summary>What the batcher should do now: take the first <see cref="Take"/> queued requests as
/// one batch, or (when <see cref="Take"/> is 0) wait <see cref="WaitTicks"/> for more.</summary>
internal readonly record struct BatchPlan(int Take, long WaitTicks)
{
    public static BatchPlan Wait(long ticks) => new(0, ticks);
}

/// <summary>The batching rules a planner applies, in TimeProvider ticks.</summary>
internal sealed record BatchingRules(int MaxBatchSize, IReadOnlyList<int> PreferredBatchSizes, long MaxQueueDelayTicks)
{
    /// <summary>No dynamic batching: every request runs on its own.</summary>
    public static readonly BatchingRules None = new(0, [], 0);

    public bool Batches => MaxBatchSize > 0;
}

/// <summary>
/// Triton's dynamic batching decision as a pure function of the queue and the clock, so it is
/// tested without threads or sleeping. A batch starts with the first queued request and takes the
/// following ones while their non-batch shapes match and the rows fit in max_batch_size; it never
/// splits a request. It is sent at once when it is full, when it reaches a preferred batch size,
/// when max_queue_delay is 0, or when its oldest request has waited max_queue_delay; otherwise the
/// planner says how long to wait.
/// </summary>
internal static class BatchPlanner
{
    public static BatchPlan Plan(IReadOnlyList<PendingRequest> queued, BatchingRules rules, long now)
    {
        if (queued.Count == 0)
        {
            return BatchPlan.Wait(long.MaxValue);
        }
        if (!rules.Batches)
        {
            return new BatchPlan(1, 0);
        }
        var first = queued[0];
        var rows = first.Rows;
        var take = 1;
        while (take < queued.Count)
        {
            var next = queued[take];
            if (rows + next.Rows > rules.MaxBatchSize || !SameNonBatchShapes(first.Request, next.Request))
            {
                break;
            }
            rows += next.Rows;
            take++;
        }

        // A request that cannot join this batch is waiting behind it: send what we have.
        var blocked = take < queued.Count;
        if (rows >= rules.MaxBatchSize || blocked || rules.MaxQueueDelayTicks == 0 || Contains(rules.PreferredBatchSizes, rows))
        {
            return new BatchPlan(take, 0);
        }
        var waited = now - first.EnqueuedTimestamp;
        return waited >= rules.MaxQueueDelayTicks
            ? new BatchPlan(take, 0)
            : BatchPlan.Wait(rules.MaxQueueDelayTicks - waited);
    }

    /// <summary>True when two requests can share a batch: the same inputs present, each with the
    /// same dimensions after the batch dimension.</summary>
    public static bool SameNonBatchShapes(InferenceRequest a, InferenceRequest b)
    {
        for (var i = 0; i < a.Inputs.Length; i++)
        {
            var x = a.Inputs[i];
            var y = b.Inputs[i];
            if (x is null || y is null)
            {
                if (x != y)
                {
                    return false;
                }
                continue;
            }
            if (!x.Shape.AsSpan(1).SequenceEqual(y.Shape.AsSpan(1)))
            {
                return false;
            }
        }
        return true;
    }

    private static bool Contains(IReadOnlyList<int> sizes, int rows)
    {
        for (var i = 0; i < sizes.Count; i++)
        {
            if (sizes[i] == rows)
            {
                return true;
            }
        }
        return false;
    }
}
