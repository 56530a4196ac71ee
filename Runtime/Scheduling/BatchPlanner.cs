using Fabrik.Inference;

namespace Fabrik.Scheduling;

/// <summary>
/// Triton's dynamic batching decision as a pure function of the queue and the clock, so it is
/// tested without threads or sleeping. A batch starts with the first queued request and takes the
/// following ones while their non-batch shapes match, the rows fit in max_batch_size and each
/// gathered input (and each output the model's configuration sizes) stays within
/// <see cref="BatchingRules.MaxTensorBytes"/>; it never splits a request. (The first request is
/// always taken: one that alone exceeds the limit was refused when it was decoded.) It is sent at
/// once when it is full, when it reaches a preferred batch size, when max_queue_delay is 0, or
/// when the oldest request of its priority level has waited max_queue_delay; otherwise the planner
/// says how long to wait. With tenants the queue comes in fair order (<see cref="FairQueue"/>), so
/// that oldest request may be another tenant's, further back or not listed at all: its wait still
/// sends the batch, and the batches after it, until it has gone.
/// </summary>
internal static class BatchPlanner
{
    /// <param name="queued">The queued requests in the order they are to be served.</param>
    /// <param name="rules">The model's batching rules.</param>
    /// <param name="now">The clock, in TimeProvider ticks.</param>
    /// <param name="oldestEnqueued">Enqueue timestamp of the oldest request at the first request's
    /// level, when fair order may not list it first; the first request's own otherwise.</param>
    public static BatchPlan Plan(IReadOnlyList<PendingRequest> queued, BatchingRules rules, long now, long oldestEnqueued = long.MaxValue)
    {
        if (queued.Count == 0)
        {
            return BatchPlan.Wait(long.MaxValue);
        }
        if (!rules.Batches)
        {
            return new BatchPlan(1, 0, Full: true);
        }
        var first = queued[0];
        var rows = first.Rows;
        var take = 1;
        var inputCount = first.Request.Inputs.Length;
        Span<long> bytes = inputCount <= 64 ? stackalloc long[inputCount] : new long[inputCount];
        AddBytes(bytes, first.Request);
        while (take < queued.Count)
        {
            var next = queued[take];
            if (rows + next.Rows > rules.MaxBatchSize || !SameNonBatchShapes(first.Request, next.Request)
                || !FitsBytes(bytes, next.Request, rules.MaxTensorBytes) || !OutputFits(rows + next.Rows, rules))
            {
                break;
            }
            AddBytes(bytes, next.Request);
            rows += next.Rows;
            take++;
        }

        // A request that cannot join this batch is waiting behind it: send what we have.
        var blocked = take < queued.Count;
        var full = rows >= rules.MaxBatchSize || blocked || Contains(rules.PreferredBatchSizes, rows);
        if (full || rules.MaxQueueDelayTicks == 0)
        {
            return new BatchPlan(take, 0, full);
        }
        var waited = now - Math.Min(first.EnqueuedTimestamp, oldestEnqueued);
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

    /// <summary>Whether the largest fixed-size output of <paramref name="rows"/> rows fits (rows
    /// are at most max_batch_size, so the division keeps this free of overflow).</summary>
    private static bool OutputFits(int rows, BatchingRules rules) =>
        rules.OutputRowBytes == 0 || rows <= rules.MaxTensorBytes / rules.OutputRowBytes;

    private static void AddBytes(Span<long> bytes, InferenceRequest request)
    {
        for (var i = 0; i < bytes.Length; i++)
        {
            bytes[i] += request.Inputs[i]?.ByteLength ?? 0;
        }
    }

    /// <summary>Whether every input of the batch, with <paramref name="next"/>'s rows added,
    /// still fits in <paramref name="limit"/> bytes (each size is at most 1 GiB: no overflow).</summary>
    private static bool FitsBytes(ReadOnlySpan<long> bytes, InferenceRequest next, long limit)
    {
        for (var i = 0; i < bytes.Length; i++)
        {
            if (bytes[i] + (next.Inputs[i]?.ByteLength ?? 0) > limit)
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
