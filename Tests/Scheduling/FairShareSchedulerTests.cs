using Fabrik.Configuration;
using Fabrik.Inference;
using Xunit;

namespace Fabrik.Tests.Scheduling;

/// <summary>Fair share through the real scheduler: a gated instance runs one batch at a time when
/// the test releases it, so the batches the instance loop plans are exact; no test sleeps.</summary>
public sealed class FairShareSchedulerTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private const int FloodFirst = 1_000;
    private const int TrickleFirst = 5_000;

    [Fact]
    public async Task Infer_TenantFloodingAndTenantSendingOneAtATime_TheOneIsInEveryNextBatchWithinItsShare_AndTheFloodGetsAllAfter()
    {
        await using var harness = new SchedulerHarness(new DynamicBatchingConfig([], 0, false), maxBatchSize: 4);
        var flooder = new TestTenant("a");
        var trickler = new TestTenant("b");
        var instance = harness.Instances[0];
        var requests = new List<InferenceRequest> { harness.Request(1, 0, tenant: flooder) };
        var tasks = new List<Task<InferenceResponse>> { harness.Infer(requests[0]) };
        instance.WaitStarted(); // A's first request holds the instance; the rest of A's queue up
        for (var i = 0; i < 60; i++)
        {
            requests.Add(harness.Request(1, FloodFirst + 2 * i, tenant: flooder));
            tasks.Add(harness.Scheduler.InferAsync(requests[^1]));
        }
        const int Trickled = 10;
        for (var k = 0; k < Trickled; k++)
        {
            // B's next request arrives while a batch runs; the batch after it is planned on release.
            requests.Add(harness.Request(1, TrickleFirst + 2 * k, tenant: trickler));
            tasks.Add(harness.Scheduler.InferAsync(requests[^1]));
            instance.Release();
            instance.WaitStarted();
        }
        instance.Release(100);
        foreach (var response in await Task.WhenAll(tasks).WaitAsync(Wait))
        {
            response.Dispose();
        }
        foreach (var request in requests)
        {
            request.Dispose();
        }

        // Each run's requests by their first value (two values a row, one row a request).
        var runs = instance.Runs.Select(run => Enumerable.Range(0, run.Length / 2).Select(j => run[2 * j]).ToList()).ToList();
        Assert.Equal([0], runs[0]);
        for (var k = 0; k < Trickled; k++)
        {
            // Equal weights: at most A's one-row turn before B's request in the batch planned after it arrived.
            var at = runs[k + 1].IndexOf(TrickleFirst + 2 * k);
            Assert.InRange(at, 0, 1);
            Assert.Equal(4, runs[k + 1].Count);
        }
        var after = runs.Skip(Trickled + 1).ToList();
        Assert.All(after, run => Assert.All(run, first => Assert.InRange(first, FloodFirst, TrickleFirst - 1)));
        Assert.All(after.SkipLast(1), run => Assert.Equal(4, run.Count));
        // A's requests ran in the order they arrived, B's requests among them or not.
        var floodOrder = runs.SelectMany(run => run).Where(first => first is >= FloodFirst and < TrickleFirst);
        Assert.Equal(Enumerable.Range(0, 60).Select(i => FloodFirst + 2 * i), floodOrder);
        Assert.Equal(1 + 60 + Trickled, runs.Sum(run => run.Count));
    }

    [Fact]
    public async Task Infer_HigherPriority_RunsBeforeAHeavierTenantsEarlierRequests()
    {
        var batching = new DynamicBatchingConfig([], 0, false)
        {
            PriorityLevels = 2,
            DefaultPriorityLevel = 2,
            DefaultQueuePolicy = QueuePolicyConfig.Default,
        };
        await using var harness = new SchedulerHarness(batching, maxBatchSize: 4);
        var heavy = new TestTenant("heavy", weight: 1_000);
        var light = new TestTenant("light", weight: 1);
        var instance = harness.Instances[0];
        var requests = new List<InferenceRequest> { harness.Request(1, 0, tenant: heavy) };
        var tasks = new List<Task<InferenceResponse>> { harness.Infer(requests[0]) };
        instance.WaitStarted();
        for (var i = 0; i < 12; i++)
        {
            requests.Add(harness.Request(1, FloodFirst + 2 * i, SchedulerHarness.Priority(2), tenant: heavy));
            tasks.Add(harness.Scheduler.InferAsync(requests[^1]));
        }
        for (var i = 0; i < 6; i++)
        {
            requests.Add(harness.Request(1, TrickleFirst + 2 * i, SchedulerHarness.Priority(1), tenant: light));
            tasks.Add(harness.Scheduler.InferAsync(requests[^1]));
        }
        instance.Release(100);
        foreach (var response in await Task.WhenAll(tasks).WaitAsync(Wait))
        {
            response.Dispose();
        }
        foreach (var request in requests)
        {
            request.Dispose();
        }

        var order = instance.Runs.Skip(1).SelectMany(run => Enumerable.Range(0, run.Length / 2).Select(j => run[2 * j]));
        Assert.Equal(Enumerable.Range(0, 6).Select(i => TrickleFirst + 2 * i).Concat(Enumerable.Range(0, 12).Select(i => FloodFirst + 2 * i)), order);
    }

    [Fact]
    public async Task Infer_WeightsThreeToOne_RowsRunThreeToOne()
    {
        await using var harness = new SchedulerHarness(new DynamicBatchingConfig([], 0, false), maxBatchSize: 8);
        var heavy = new TestTenant("heavy", weight: 3);
        var light = new TestTenant("light", weight: 1);
        var instance = harness.Instances[0];
        var requests = new List<InferenceRequest> { harness.Request(1, 0, tenant: heavy) };
        var tasks = new List<Task<InferenceResponse>> { harness.Infer(requests[0]) };
        instance.WaitStarted();
        for (var i = 0; i < 120; i++)
        {
            requests.Add(harness.Request(1, FloodFirst + 2 * i, tenant: heavy));
            tasks.Add(harness.Scheduler.InferAsync(requests[^1]));
            requests.Add(harness.Request(1, TrickleFirst + 2 * i, tenant: light));
            tasks.Add(harness.Scheduler.InferAsync(requests[^1]));
        }
        instance.Release(100);
        foreach (var response in await Task.WhenAll(tasks).WaitAsync(Wait))
        {
            response.Dispose();
        }
        foreach (var request in requests)
        {
            request.Dispose();
        }

        // While both wait (the first 120 / 3 = 40 batches' worth of heavy rows), each full batch of
        // 8 rows holds 6 of heavy and 2 of light.
        var runs = instance.Runs.Skip(1).Take(20).ToList();
        Assert.All(runs, run =>
        {
            var firsts = Enumerable.Range(0, run.Length / 2).Select(j => run[2 * j]).ToList();
            Assert.Equal(8, firsts.Count);
            Assert.Equal(6, firsts.Count(first => first < TrickleFirst));
        });
    }
}
