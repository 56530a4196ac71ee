using Fabrik.Inference;
using Fabrik.Scheduling;
using Fabrik.Tensors;
using Xunit;

namespace Fabrik.Tests.Scheduling;

/// <summary>The batching decision as a pure function: queue contents and clock in, "take N" or
/// "wait T" out, and whether the batch taken could still grow (a pipelined executor holds only
/// those back).</summary>
public sealed class BatchPlannerTests
{
    private static readonly BatchingRules Rules = new(8, [4], 1_000);

    [Fact]
    public void Plan_EmptyQueue_WaitsForAnArrival() =>
        Assert.Equal(BatchPlan.Wait(long.MaxValue), BatchPlanner.Plan([], Rules, 0));

    [Fact]
    public void Plan_BelowMaxAndPreferredBeforeTheDelay_WaitsForTheRemainder() =>
        Assert.Equal(BatchPlan.Wait(700), BatchPlanner.Plan(Queue((1, 0, 16), (1, 100, 16)), Rules, 300));

    [Fact]
    public void Plan_DelayElapsed_TakesEverythingCompatible() =>
        Assert.Equal(new BatchPlan(2, 0), BatchPlanner.Plan(Queue((1, 0, 16), (1, 100, 16)), Rules, 1_000));

    [Fact]
    public void Plan_PreferredSizeReached_SendsAtOnce() =>
        Assert.Equal(new BatchPlan(2, 0, Full: true), BatchPlanner.Plan(Queue((3, 0, 16), (1, 0, 16)), Rules, 0));

    [Fact]
    public void Plan_MaxReached_SendsAtOnceWithoutSplitting() =>
        Assert.Equal(new BatchPlan(2, 0, Full: true), BatchPlanner.Plan(Queue((5, 0, 16), (3, 0, 16), (1, 0, 16)), Rules, 0));

    [Fact]
    public void Plan_NextRequestTooLarge_SendsWhatFitsNow() =>
        Assert.Equal(new BatchPlan(1, 0, Full: true), BatchPlanner.Plan(Queue((5, 0, 16), (4, 0, 16)), Rules, 0));

    [Fact]
    public void Plan_NextRequestHasOtherShape_CutsTheBatchThere() =>
        Assert.Equal(new BatchPlan(2, 0, Full: true), BatchPlanner.Plan(Queue((1, 0, 16), (1, 0, 16), (1, 0, 15), (1, 0, 16)), Rules, 0));

    [Fact]
    public void Plan_NextRequestWouldTakeTheGatheredInputPastTheTensorLimit_SendsWhatFitsNow() =>
        // Rows of 16 FP32 are 64 bytes: 2 + 1 rows fit in 192 bytes, the next row would not.
        Assert.Equal(new BatchPlan(2, 0, Full: true), BatchPlanner.Plan(Queue((2, 0, 16), (1, 0, 16), (1, 0, 16)), Rules with { MaxTensorBytes = 192 }, 0));

    [Fact]
    public void Plan_BatchExactlyAtTheTensorLimit_IsOneBatch() =>
        Assert.Equal(new BatchPlan(3, 0, Full: true), BatchPlanner.Plan(Queue((2, 0, 16), (1, 0, 16), (1, 0, 16)), Rules with { MaxTensorBytes = 256 }, 1_000));

    [Fact]
    public void Plan_FirstRequestAloneOverTheTensorLimit_StillRunsAlone() =>
        Assert.Equal(new BatchPlan(1, 0, Full: true), BatchPlanner.Plan(Queue((2, 0, 16), (1, 0, 16)), Rules with { MaxTensorBytes = 100 }, 0));

    [Fact]
    public void Plan_BatchWhoseFixedSizeOutputWouldPassTheTensorLimit_IsCutByRows() =>
        // Inputs of 64 bytes a row fit easily, but an output of 100 bytes a row allows 3 rows in 300.
        Assert.Equal(new BatchPlan(2, 0, Full: true), BatchPlanner.Plan(Queue((2, 0, 16), (1, 0, 16), (1, 0, 16)), Rules with { MaxTensorBytes = 300, OutputRowBytes = 100 }, 0));

    [Fact]
    public void Plan_ZeroDelay_SendsWhateverIsQueued() =>
        Assert.Equal(new BatchPlan(1, 0), BatchPlanner.Plan(Queue((1, 0, 16)), Rules with { MaxQueueDelayTicks = 0 }, 0));

    [Fact]
    public void Plan_NoBatching_TakesOneRequest() =>
        Assert.Equal(new BatchPlan(1, 0, Full: true), BatchPlanner.Plan(Queue((1, 0, 16), (1, 0, 16)), BatchingRules.None, 0));

    /// <summary>Queued requests as (rows, enqueue time, width of the non-batch dimension).</summary>
    private static List<PendingRequest> Queue(params (int Rows, long Enqueued, int Width)[] requests)
    {
        var pool = new TensorMemoryPool();
        var queue = new List<PendingRequest>();
        foreach (var (rows, enqueued, width) in requests)
        {
            var input = new TensorBuffer(pool, DataType.Fp32, [rows, width], rows * width, rows * width * 4);
            queue.Add(new PendingRequest(new InferenceRequest([input], rows), enqueued, queue.Count));
        }
        return queue;
    }
}
