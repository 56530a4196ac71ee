using Fabrik.Configuration;
using Fabrik.Errors;
using Fabrik.Execution;
using Fabrik.Inference;
using Fabrik.Tensors;
using Xunit;

namespace Fabrik.Tests.Scheduling;

/// <summary>Queue policies, priorities, cancellation and ordering of the scheduler, with a gated
/// instance and a manual clock: no test sleeps.</summary>
public sealed class ModelSchedulerTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private static DynamicBatchingConfig Batching(long delayMicroseconds = 0, int[]? preferred = null, QueuePolicyConfig? policy = null, int levels = 0, bool preserveOrdering = false) =>
        new([.. preferred ?? []], delayMicroseconds, preserveOrdering)
        {
            PriorityLevels = levels,
            DefaultPriorityLevel = levels > 0 ? levels : 0,
            DefaultQueuePolicy = policy ?? QueuePolicyConfig.Default,
        };

    [Fact]
    public async Task Infer_WithinQueueDelay_BatchesRequestsAndReturnsEachItsOwnRows()
    {
        await using var harness = new SchedulerHarness(Batching(delayMicroseconds: 5_000));
        using var a = harness.Request(1, 100);
        using var b = harness.Request(2, 200);
        using var c = harness.Request(1, 300);

        var tasks = new[] { harness.Scheduler.InferAsync(a), harness.Scheduler.InferAsync(b), harness.Scheduler.InferAsync(c) };
        Assert.True(harness.Instances[0].Runs.IsEmpty);
        harness.Time.Advance(TimeSpan.FromMilliseconds(5));
        harness.Instances[0].Release();
        var responses = await Task.WhenAll(tasks).WaitAsync(Wait);

        var run = Assert.Single(harness.Instances[0].Runs);
        Assert.Equal([100, 101, 200, 201, 202, 203, 300, 301], run);
        Assert.Equal([100, 101], responses[0].Outputs[0].As<int>().ToArray());
        Assert.Equal([200, 201, 202, 203], responses[1].Outputs[0].As<int>().ToArray());
        Assert.Equal([2L, 2L], responses[1].Outputs[0].Shape);
        Assert.Equal([300, 301], responses[2].Outputs[0].As<int>().ToArray());
        Assert.Equal(4, harness.Statistics.InferenceCount);
        Assert.Equal(1, harness.Statistics.ExecutionCount);
        foreach (var response in responses)
        {
            response.Dispose();
        }
    }

    [Fact]
    public async Task Infer_ReachingPreferredBatchSize_SendsWithoutWaitingForTheDelay()
    {
        await using var harness = new SchedulerHarness(Batching(delayMicroseconds: 1_000_000, preferred: [3]));
        using var a = harness.Request(1, 1);
        using var b = harness.Request(2, 10);
        var first = harness.Scheduler.InferAsync(a);
        var second = harness.Scheduler.InferAsync(b);

        harness.Instances[0].WaitStarted(); // no clock movement needed
        harness.Instances[0].Release();
        using var ra = await first.WaitAsync(Wait);
        using var rb = await second.WaitAsync(Wait);
        Assert.Equal([1, 2, 10, 11, 12, 13], Assert.Single(harness.Instances[0].Runs));
    }

    [Fact]
    public async Task Infer_RequestThatDoesNotFit_IsNeverSplitAndWaitsForTheNextBatch()
    {
        await using var harness = new SchedulerHarness(Batching(delayMicroseconds: 1_000_000), maxBatchSize: 4);
        using var a = harness.Request(3, 1);
        using var b = harness.Request(2, 100);
        var first = harness.Scheduler.InferAsync(a);
        var second = harness.Scheduler.InferAsync(b);

        harness.Instances[0].WaitStarted();      // [3 rows] goes at once: the next request cannot join it
        harness.Instances[0].Release();
        using var ra = await first.WaitAsync(Wait);
        Assert.False(second.IsCompleted);         // [2 rows] waits for its queue delay
        harness.Time.Advance(TimeSpan.FromSeconds(1));
        harness.Instances[0].Release();
        using var rb = await second.WaitAsync(Wait);
        Assert.Equal([[1, 2, 3, 4, 5, 6], [100, 101, 102, 103]], harness.Instances[0].Runs.ToArray());
    }

    [Fact]
    public async Task Infer_RequestsThatTogetherExceedTheLargestTensor_RunInSeparateBatches_AndAllSucceed()
    {
        // The scheduler's pool may hold 1 MiB, so no gathered input can be larger. Rows are
        // 96 Ki INT32 (384 KiB): 2 rows and 1 row are each valid, but together need 1152 KiB.
        // (The requests' own buffers come from the protocol's pool, as over HTTP they would.)
        const int width = 96 * 1024;
        var protocolPool = new TensorMemoryPool();
        await using var harness = new SchedulerHarness(Batching(delayMicroseconds: 1_000_000), maxBatchSize: 8, pool: new TensorMemoryPool(byteLimit: 1 << 20), width: width);
        using var a = harness.Request(2, 0, from: protocolPool);
        using var b = harness.Request(1, 1_000_000, from: protocolPool);
        var first = harness.Scheduler.InferAsync(a);
        var second = harness.Scheduler.InferAsync(b);

        harness.Instances[0].WaitStarted(); // the 2 rows go at once: the next request cannot join them
        harness.Instances[0].Release();
        using (var ra = await first.WaitAsync(Wait))
        {
            Assert.Equal(Enumerable.Range(0, 2 * width), ra.Outputs[0].As<int>().ToArray());
        }
        Assert.False(second.IsCompleted); // the 1 row waits for its own batch
        harness.Time.Advance(TimeSpan.FromSeconds(1));
        harness.Instances[0].WaitStarted();
        harness.Instances[0].Release();
        using var rb = await second.WaitAsync(Wait);
        Assert.Equal(Enumerable.Range(1_000_000, width), rb.Outputs[0].As<int>().ToArray());
        Assert.Equal(2, harness.Statistics.ExecutionCount);
    }

    [Fact]
    public async Task Infer_BackendFailingThresholdTimes_TurnsTheVersionUnhealthy_AndOneSuccessRecoversIt()
    {
        await using var harness = new SchedulerHarness(batching: null);
        harness.Instances[0].Release(BackendHealth.DefaultThreshold + 1);
        for (var failure = 0; failure < BackendHealth.DefaultThreshold; failure++)
        {
            Assert.True(harness.Scheduler.Health.IsHealthy);
            using var failing = harness.Request(1, -10);
            var error = await Assert.ThrowsAsync<InferenceException>(() => harness.Infer(failing).WaitAsync(Wait));
            Assert.Equal(ErrorKind.Internal, error.Kind);
        }
        Assert.False(harness.Scheduler.Health.IsHealthy);

        using var working = harness.Request(1, 10);
        using var response = await harness.Infer(working).WaitAsync(Wait);
        Assert.Equal([10, 11], response.Outputs[0].As<int>().ToArray());
        Assert.True(harness.Scheduler.Health.IsHealthy);
    }

    [Fact]
    public async Task Infer_HigherPriority_RunsBeforeEarlierLowerPriority()
    {
        await using var harness = new SchedulerHarness(Batching(levels: 2), maxBatchSize: 1);
        using var busy = harness.Request(1, 0);
        using var low = harness.Request(1, 10, SchedulerHarness.Priority(2));
        using var high = harness.Request(1, 20, SchedulerHarness.Priority(1));
        var tasks = new List<Task<InferenceResponse>> { harness.Infer(busy) };
        harness.Instances[0].WaitStarted();
        tasks.Add(harness.Scheduler.InferAsync(low));
        tasks.Add(harness.Scheduler.InferAsync(high));

        harness.Instances[0].Release(3);
        foreach (var response in await Task.WhenAll(tasks).WaitAsync(Wait))
        {
            response.Dispose();
        }
        Assert.Equal([0, 20, 10], harness.Instances[0].Runs.Select(run => run[0]));
    }

    [Fact]
    public async Task Infer_PriorityOutOfRange_IsInvalidArgument()
    {
        await using var harness = new SchedulerHarness(Batching(levels: 2));
        using var request = harness.Request(1, 0, SchedulerHarness.Priority(3));
        var error = Assert.Throws<InferenceException>(() => { _ = harness.Scheduler.InferAsync(request); });
        Assert.Equal(ErrorKind.InvalidArgument, error.Kind);
        Assert.Contains("priority 3 is out of range", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Infer_QueueTimeoutWithReject_FailsFastWithRequestTimeoutExpired()
    {
        await using var harness = new SchedulerHarness(Batching(policy: new QueuePolicyConfig(TimeoutAction.Reject, 1_000, false, 0)), maxBatchSize: 1);
        using var busy = harness.Request(1, 0);
        using var waiting = harness.Request(1, 1);
        var first = harness.Infer(busy);
        harness.Instances[0].WaitStarted();
        var second = harness.Scheduler.InferAsync(waiting);

        harness.Time.Advance(TimeSpan.FromMilliseconds(2));
        var error = await Assert.ThrowsAsync<InferenceException>(() => second.WaitAsync(Wait));
        Assert.Equal(ErrorKind.Unavailable, error.Kind);
        Assert.StartsWith("Request timeout expired", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, harness.Statistics.Fail.Count);

        harness.Instances[0].Release();
        using var response = await first.WaitAsync(Wait);
        Assert.Single(harness.Instances[0].Runs);
    }

    [Fact]
    public async Task Infer_QueueTimeoutWithDelay_RunsAfterRequestsThatDidNotTimeOut()
    {
        await using var harness = new SchedulerHarness(Batching(policy: new QueuePolicyConfig(TimeoutAction.Delay, 1_000, false, 0)), maxBatchSize: 1);
        using var busy = harness.Request(1, 0);
        using var late = harness.Request(1, 1);
        using var fresh = harness.Request(1, 2);
        var tasks = new List<Task<InferenceResponse>> { harness.Infer(busy) };
        harness.Instances[0].WaitStarted();
        tasks.Add(harness.Scheduler.InferAsync(late));
        harness.Time.Advance(TimeSpan.FromMilliseconds(2));  // 'late' times out and is demoted
        tasks.Add(harness.Scheduler.InferAsync(fresh));

        harness.Instances[0].Release(3);
        foreach (var response in await Task.WhenAll(tasks).WaitAsync(Wait))
        {
            response.Dispose();
        }
        Assert.Equal([0, 2, 1], harness.Instances[0].Runs.Select(run => run[0]));
    }

    [Fact]
    public async Task Infer_TimeoutParameter_OnlyShortensThePolicyTimeout()
    {
        await using var harness = new SchedulerHarness(Batching(policy: new QueuePolicyConfig(TimeoutAction.Reject, 10_000, true, 0)), maxBatchSize: 1);
        using var busy = harness.Request(1, 0);
        using var longer = harness.Request(1, 1, new Dictionary<string, object> { ["timeout"] = 1_000_000L });
        using var shorter = harness.Request(1, 2, new Dictionary<string, object> { ["timeout"] = 1_000L });
        var first = harness.Infer(busy);
        harness.Instances[0].WaitStarted();
        var longerTask = harness.Scheduler.InferAsync(longer);
        var shorterTask = harness.Scheduler.InferAsync(shorter);

        harness.Time.Advance(TimeSpan.FromMilliseconds(2));
        await Assert.ThrowsAsync<InferenceException>(() => shorterTask.WaitAsync(Wait));
        Assert.False(longerTask.IsCompleted);
        harness.Time.Advance(TimeSpan.FromMilliseconds(9)); // past the policy's 10 ms, not the request's 1 s
        await Assert.ThrowsAsync<InferenceException>(() => longerTask.WaitAsync(Wait));

        harness.Instances[0].Release();
        using var response = await first.WaitAsync(Wait);
    }

    [Fact]
    public async Task Infer_FullQueue_IsRefusedAtOnceWithExceedsMaximumQueueSize()
    {
        await using var harness = new SchedulerHarness(Batching(policy: new QueuePolicyConfig(TimeoutAction.Reject, 0, false, 2)), maxBatchSize: 1);
        var requests = Enumerable.Range(0, 4).Select(i => harness.Request(1, i)).ToArray();
        var tasks = new List<Task<InferenceResponse>> { harness.Infer(requests[0]) };
        harness.Instances[0].WaitStarted();
        tasks.Add(harness.Scheduler.InferAsync(requests[1]));
        tasks.Add(harness.Scheduler.InferAsync(requests[2]));

        var error = Assert.Throws<InferenceException>(() => { _ = harness.Scheduler.InferAsync(requests[3]); });
        Assert.Equal(ErrorKind.Overloaded, error.Kind);
        Assert.StartsWith("Exceeds maximum queue size", error.Message, StringComparison.Ordinal);

        harness.Instances[0].Release(3);
        foreach (var response in await Task.WhenAll(tasks).WaitAsync(Wait))
        {
            response.Dispose();
        }
        foreach (var request in requests)
        {
            request.Dispose();
        }
    }

    [Fact]
    public async Task Infer_ClientGoneWhileQueued_RemovesTheRequestWithoutRunningIt()
    {
        await using var harness = new SchedulerHarness(Batching(), maxBatchSize: 1);
        using var busy = harness.Request(1, 0);
        using var cancellation = new CancellationTokenSource();
        using var abandoned = harness.Request(1, 1, cancellation: cancellation.Token);
        var first = harness.Infer(busy);
        harness.Instances[0].WaitStarted();
        var second = harness.Scheduler.InferAsync(abandoned);
        Assert.Equal(1, harness.Scheduler.QueuedCount);

        await cancellation.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => second.WaitAsync(Wait));
        Assert.Equal(0, harness.Scheduler.QueuedCount);

        harness.Instances[0].Release(2);
        using var response = await first.WaitAsync(Wait);
        Assert.Single(harness.Instances[0].Runs);
    }

    [Fact]
    public async Task Infer_PreserveOrdering_HoldsALaterResponseUntilEarlierOnesComplete()
    {
        await using var harness = new SchedulerHarness(Batching(preserveOrdering: true), maxBatchSize: 1, instances: 2);
        using var a = harness.Request(1, 1);
        using var b = harness.Request(1, 2);
        var first = harness.Infer(a);
        Assert.True(SpinWait.SpinUntil(() => harness.Instances.Sum(i => i.StartedCount) == 1, Wait));
        var starter = harness.Instances.Single(i => i.StartedCount == 1);
        var second = harness.Infer(b);
        var other = harness.Instances.Single(i => i != starter);
        Assert.True(SpinWait.SpinUntil(() => other.StartedCount == 1, Wait));

        other.Release();                          // b finishes first...
        Assert.True(SpinWait.SpinUntil(() => harness.Scheduler.ResponsesHeldForOrdering == 1, Wait), "b was not held");
        Assert.False(second.IsCompleted);         // ...but is held behind a
        starter.Release();
        using var ra = await first.WaitAsync(Wait);
        using var rb = await second.WaitAsync(Wait);
    }

    [Fact]
    public async Task Infer_IdleInstanceAndEmptyQueue_RunsOnTheCallersThread()
    {
        await using var harness = new SchedulerHarness(Batching());
        using var request = harness.Request(1, 1);
        harness.Instances[0].Release();
        var caller = 0;
        var response = await Task.Run(() =>
        {
            caller = Environment.CurrentManagedThreadId;
            return harness.Scheduler.InferAsync(request);
        }).WaitAsync(Wait);
        response.Dispose();
        Assert.Equal(caller, Assert.Single(harness.Instances[0].Threads));
    }

    [Fact]
    public async Task Infer_WithoutDynamicBatching_RunsEachRequestOnItsOwn()
    {
        await using var harness = new SchedulerHarness(batching: null);
        using var a = harness.Request(1, 1);
        using var b = harness.Request(1, 2);
        var first = harness.Infer(a);
        var second = harness.Infer(b);
        harness.Instances[0].Release(2);
        using var ra = await first.WaitAsync(Wait);
        using var rb = await second.WaitAsync(Wait);
        Assert.Equal(2, harness.Instances[0].Runs.Count);
        Assert.Equal(2, harness.Statistics.ExecutionCount);
    }
}
