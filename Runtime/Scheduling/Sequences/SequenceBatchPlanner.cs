using Fabrik.Configuration;

namespace Fabrik.Scheduling.Sequences;

/// <summary>
/// The sequence batcher's decision for one instance, as a pure function of its slots and the
/// clock, so tests drive it without threads. A slot is ready when its sequence has a request
/// waiting; a batch takes the next request of each ready slot whose non-batch shapes match the
/// first one's (the others wait for the next batch).
/// <list type="bullet">
/// <item><b>direct</b> (Triton's): row <i>i</i> of the batch is slot <i>i</i>, so the batch has as
/// many rows as the highest ready slot plus one; the slots in between without a request are empty
/// rows the model sees as not ready. Sent at once when max_queue_delay is 0, when the ready slots
/// reach minimum_slot_utilization of all slots, or when the oldest waiting request has waited
/// max_queue_delay.</item>
/// <item><b>oldest</b>: the oldest requests of up to max_batch_size ready slots, packed into rows
/// in age order; sent when full, at a preferred batch size, when a request cannot join, when the
/// delay is 0 or the oldest request has waited it.</item>
/// </list>
/// </summary>
internal static class SequenceBatchPlanner
{
    /// <param name="slots">The instance's slots: the sequence bound to each, or null.</param>
    /// <param name="rules">The model's settings.</param>
    /// <param name="now">TimeProvider timestamp.</param>
    /// <param name="flush">Send whatever is ready without waiting (the batcher is stopping).</param>
    /// <param name="take">Receives the slots that run, in row order (cleared first).</param>
    public static SequenceBatchPlan Plan(IReadOnlyList<Sequence?> slots, SequenceBatchRules rules, long now, bool flush, List<int> take)
    {
        take.Clear();
        var first = -1;
        var oldest = long.MaxValue;
        var ready = 0;
        for (var i = 0; i < slots.Count; i++)
        {
            if (Head(slots[i]) is not { } head)
            {
                continue;
            }
            ready++;
            if (head.Pending.EnqueuedTimestamp < oldest)
            {
                oldest = head.Pending.EnqueuedTimestamp;
                first = i;
            }
        }
        if (ready == 0)
        {
            return SequenceBatchPlan.Wait(long.MaxValue);
        }
        var rows = rules.Strategy == SequenceStrategy.Direct ? Direct(slots, first, take) : Oldest(slots, rules, first, take);
        var full = rules.Strategy == SequenceStrategy.Direct
            ? ready >= rules.MinimumSlotUtilization * slots.Count // 0, the default, sends at once
            : take.Count >= rules.MaxRows || take.Count < ready || Contains(rules.PreferredBatchSizes, take.Count);
        var waited = now - oldest;
        if (flush || full || rules.MaxQueueDelayTicks == 0 || waited >= rules.MaxQueueDelayTicks)
        {
            return new SequenceBatchPlan(rows, 0);
        }
        take.Clear();
        return SequenceBatchPlan.Wait(rules.MaxQueueDelayTicks - waited);
    }

    /// <summary>The request a slot would run next, or null.</summary>
    private static SequenceRequest? Head(Sequence? sequence) =>
        sequence is { Requests.Count: > 0 } ? sequence.Requests.Peek() : null;

    /// <summary>Every ready slot whose shapes match the oldest request's, in slot order; the rows
    /// run to the highest of them.</summary>
    private static int Direct(IReadOnlyList<Sequence?> slots, int first, List<int> take)
    {
        var reference = Head(slots[first])!.Pending.Request;
        for (var i = 0; i < slots.Count; i++)
        {
            if (Head(slots[i]) is { } head && BatchPlanner.SameNonBatchShapes(reference, head.Pending.Request))
            {
                take.Add(i);
            }
        }
        return take[^1] + 1;
    }

    /// <summary>Ready slots oldest first, up to the batch's rows, while shapes match.</summary>
    private static int Oldest(IReadOnlyList<Sequence?> slots, SequenceBatchRules rules, int first, List<int> take)
    {
        var reference = Head(slots[first])!.Pending.Request;
        take.Add(first);
        while (take.Count < rules.MaxRows)
        {
            var next = -1;
            var age = long.MaxValue;
            for (var i = 0; i < slots.Count; i++)
            {
                if (Head(slots[i]) is { } head && head.Pending.EnqueuedTimestamp < age && !take.Contains(i)
                    && BatchPlanner.SameNonBatchShapes(reference, head.Pending.Request))
                {
                    next = i;
                    age = head.Pending.EnqueuedTimestamp;
                }
            }
            if (next < 0)
            {
                break;
            }
            take.Add(next);
        }
        return take.Count;
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
