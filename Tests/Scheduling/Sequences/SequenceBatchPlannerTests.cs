using Fabrik.Configuration;
using Fabrik.Inference;
using Fabrik.Scheduling;
using Fabrik.Scheduling.Sequences;
using Fabrik.Tensors;
using Xunit;

namespace Fabrik.Tests.Scheduling.Sequences;

/// <summary>The sequence batcher's decision as a pure function of an instance's slots and the
/// clock: which slots run, how many rows the batch has, or how long to wait.</summary>
public sealed class SequenceBatchPlannerTests
{
    private static readonly SequenceBatchRules Direct = new(SequenceStrategy.Direct, 4, 4, 0, 0, []);
    private static readonly SequenceBatchRules Oldest = new(SequenceStrategy.Oldest, 2, 4, 0, 0, []);
    private readonly List<int> _take = [];

    [Fact]
    public void Plan_NoSlotReady_WaitsForAnArrival() =>
        Assert.Equal(SequenceBatchPlan.Wait(long.MaxValue), SequenceBatchPlanner.Plan(Slots(null, Idle(), null, null), Direct, 0, flush: false, _take));

    [Fact]
    public void Plan_Direct_RowsRunToTheHighestReadySlot_EmptySlotsBetweenStayOut()
    {
        var plan = SequenceBatchPlanner.Plan(Slots(null, Ready(5), Idle(), Ready(3)), Direct, 10, flush: false, _take);

        Assert.Equal(new SequenceBatchPlan(4, 0), plan);
        Assert.Equal([1, 3], _take);
    }

    [Fact]
    public void Plan_Direct_ShapeUnlikeTheOldest_WaitsForTheNextBatch()
    {
        var plan = SequenceBatchPlanner.Plan(Slots(Ready(5, width: 2), Ready(3), null, null), Direct, 10, flush: false, _take);

        Assert.Equal(new SequenceBatchPlan(2, 0), plan);
        Assert.Equal([1], _take);
    }

    [Fact]
    public void Plan_Direct_BelowMinimumSlotUtilizationBeforeTheDelay_WaitsForTheRemainder()
    {
        var rules = Direct with { MaxQueueDelayTicks = 1_000, MinimumSlotUtilization = 0.75 };

        Assert.Equal(SequenceBatchPlan.Wait(600), SequenceBatchPlanner.Plan(Slots(Ready(100), Ready(200), null, null), rules, 500, flush: false, _take));
        Assert.Empty(_take);
        Assert.Equal(new SequenceBatchPlan(2, 0), SequenceBatchPlanner.Plan(Slots(Ready(100), Ready(200), null, null), rules, 1_100, flush: false, _take));
        Assert.Equal(new SequenceBatchPlan(3, 0), SequenceBatchPlanner.Plan(Slots(Ready(100), Ready(200), Ready(300), null), rules, 500, flush: false, _take));
        Assert.Equal(new SequenceBatchPlan(2, 0), SequenceBatchPlanner.Plan(Slots(Ready(100), Ready(200), null, null), rules, 500, flush: true, _take));
    }

    [Fact]
    public void Plan_Oldest_PacksTheOldestRequestsUpToTheBatchRows()
    {
        var plan = SequenceBatchPlanner.Plan(Slots(Ready(30), Ready(10), null, Ready(20)), Oldest, 40, flush: false, _take);

        Assert.Equal(new SequenceBatchPlan(2, 0), plan);
        Assert.Equal([1, 3], _take);
    }

    [Fact]
    public void Plan_Oldest_BelowTheBatchBeforeTheDelay_Waits()
    {
        var rules = Oldest with { MaxQueueDelayTicks = 100 };

        Assert.Equal(SequenceBatchPlan.Wait(60), SequenceBatchPlanner.Plan(Slots(null, Ready(10), null, null), rules, 50, flush: false, _take));
        Assert.Equal(new SequenceBatchPlan(1, 0), SequenceBatchPlanner.Plan(Slots(null, Ready(10), null, null), rules with { PreferredBatchSizes = [1] }, 50, flush: false, _take));
    }

    private static Sequence?[] Slots(params Sequence?[] slots) => slots;

    private static Sequence Idle() => new(new SequenceId(99, null), 0);

    /// <summary>A sequence with one request waiting since <paramref name="enqueued"/>, of one row
    /// of <paramref name="width"/> INT32 values (the buffer is never read).</summary>
    private static Sequence Ready(long enqueued, int width = 1)
    {
        var sequence = new Sequence(new SequenceId((ulong)enqueued, null), 0);
        var input = new TensorBuffer(Pool, DataType.Int32, [1, width], width, width * 4);
        var request = new InferenceRequest([input], 1);
        sequence.Requests.Enqueue(new SequenceRequest(new PendingRequest(request, enqueued, enqueued), new SequenceFlags(sequence.Id, false, false)));
        return sequence;
    }

    private static readonly TensorMemoryPool Pool = new();
}
