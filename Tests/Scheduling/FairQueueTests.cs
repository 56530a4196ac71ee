using Fabrik.Inference;
using Fabrik.Scheduling;
using Fabrik.Tensors;
using Xunit;

namespace Fabrik.Tests.Scheduling;

/// <summary>Fair share between tenants inside a model's queue, driven without threads: requests
/// are queued, the planner is asked for each batch and the batch is taken, as an instance loop
/// does, so every order below is exact.</summary>
public sealed class FairQueueTests
{
    private static readonly BatchingRules Rules = new(8, [], 0);

    private readonly TensorMemoryPool _pool = new();
    private readonly RequestQueues _queues = new(priorityLevels: 2, defaultMaxQueueSize: 1_000_000);
    private long _sequence;

    [Fact]
    public void Batches_WithoutTenants_KeepArrivalOrderAndBatchBoundaries()
    {
        var rows = new[] { 1, 3, 2, 4, 1, 1, 5, 2, 2, 2, 1, 3, 8, 1, 1 };
        var queued = rows.Select(r => Enqueue(Request(r, tenant: null))).ToList();

        var batches = Drain();

        // Arrival order, cut greedily where the next request would pass 8 rows.
        var expected = new List<List<PendingRequest>> { new() };
        var filled = 0;
        foreach (var pending in queued)
        {
            if (filled + pending.Rows > Rules.MaxBatchSize)
            {
                expected.Add([]);
                filled = 0;
            }
            expected[^1].Add(pending);
            filled += pending.Rows;
        }
        Assert.Equal(expected.Count, batches.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i], batches[i]);
        }
        Assert.Equal(0, _queues.TenantQueuesHeld());
    }

    [Fact]
    public void Batches_OneTenantFloodingAndOneSendingOneAtATime_ServeTheOtherWithinItsShare_AndTheFloodGetsAllWhenItStops()
    {
        var a = new TestTenant("a");
        var b = new TestTenant("b");
        var floodRequest = Request(1, a);
        var flood = Enumerable.Range(0, 2_000).Select(_ => Enqueue(floodRequest)).ToList();
        var served = new List<PendingRequest>();
        var bRequest = Request(1, b);
        var waits = new List<int>();
        for (var batch = 0; batch < 200; batch++)
        {
            // B has one request in flight at a time: the next arrives once the last was served.
            var sent = Enqueue(bRequest);
            var arrivedAt = served.Count;
            served.AddRange(NextBatch());
            var at = served.IndexOf(sent);
            Assert.True(at >= arrivedAt, $"B's request {batch} was not in the batch planned after it arrived");
            waits.Add(at - arrivedAt);
        }

        // Equal weights: B waits behind at most A's one-row turn, so it is first or second.
        Assert.All(waits, wait => Assert.InRange(wait, 0, 1));
        Assert.Equal(200 * Rules.MaxBatchSize, served.Count);
        Assert.Equal(200, served.Count(p => p.Request.Tenant == b));

        // B stops: every batch is A's, full, and A's requests come in the order they arrived.
        var rest = Drain();
        Assert.All(rest.SkipLast(1), batch => Assert.Equal(Rules.MaxBatchSize, batch.Count));
        Assert.Equal(flood, served.Where(p => p.Request.Tenant == a).Concat(rest.SelectMany(batch => batch)));
    }

    [Fact]
    public void Batches_WeightsThreeToOne_ShareRowsThreeToOneWithinAFewPercentOver1000Batches()
    {
        var heavy = new TestTenant("heavy", weight: 3);
        var light = new TestTenant("light", weight: 1);
        var rows = Share(heavy, light, Request(1, heavy), Request(1, light), batches: 1_000);

        Assert.InRange(rows[heavy] / (double)rows[light], 2.9, 3.1);
        Assert.Equal(8_000, rows[heavy] + rows[light]);
    }

    [Fact]
    public void Batches_CostIsRows_TenantsWithLargerRequestsGetNoMoreRows()
    {
        var wide = new TestTenant("wide");
        var narrow = new TestTenant("narrow");
        var rows = Share(wide, narrow, Request(4, wide), Request(1, narrow), batches: 1_000);

        Assert.InRange(rows[wide] / (double)rows[narrow], 0.97, 1.03);
    }

    [Fact]
    public void Batches_WeightChangedByAReload_AppliesFromTheNextPlan()
    {
        var a = new TestTenant("a");
        var b = new TestTenant("b");
        var before = Share(a, b, Request(1, a), Request(1, b), batches: 100);
        b.SetWeight(3);
        var after = Share(a, b, Request(1, a), Request(1, b), batches: 100);

        Assert.InRange(before[b] / (double)before[a], 0.97, 1.03);
        Assert.InRange(after[b] / (double)after[a], 2.9, 3.1);
    }

    [Fact]
    public void Batches_HigherPriorityLevel_BeatsFairShare()
    {
        var heavy = new TestTenant("heavy", weight: 1_000);
        var light = new TestTenant("light");
        var low = Enumerable.Range(0, 40).Select(_ => Enqueue(Request(1, heavy), level: 2)).ToList();
        var high = Enumerable.Range(0, 12).Select(_ => Enqueue(Request(1, light), level: 1)).ToList();

        var order = Drain().SelectMany(batch => batch).ToList();

        Assert.Equal(high.Concat(low), order);
    }

    [Fact]
    public void Batches_ManyTenantsMixedRows_EachTenantsRequestsKeepTheirArrivalOrder()
    {
        var tenants = Enumerable.Range(0, 5).Select(i => new TestTenant($"t{i}", weight: i + 1)).ToArray();
        var random = new Random(28);
        var queued = new List<PendingRequest>();
        for (var i = 0; i < 500; i++)
        {
            queued.Add(Enqueue(Request(random.Next(1, 9), tenants[random.Next(tenants.Length)])));
        }

        var order = Drain().SelectMany(batch => batch).ToList();

        Assert.Equal(queued.Count, order.Count);
        Assert.Equal(queued.ToHashSet(), order.ToHashSet());
        foreach (var tenant in tenants)
        {
            Assert.Equal(queued.Where(p => p.Request.Tenant == tenant), order.Where(p => p.Request.Tenant == tenant));
        }
    }

    [Fact]
    public void Demote_TenantsTimedOutRequest_LeavesItsTurnAndRunsAfterEveryRequestThatDidNot()
    {
        var a = new TestTenant("a");
        var b = new TestTenant("b");
        var timedOut = Enqueue(Request(1, a));
        var others = new[] { Enqueue(Request(1, a)), Enqueue(Request(1, b)), Enqueue(Request(1, b)) };
        lock (_queues.Gate)
        {
            _queues.Demote(timedOut); // DELAY: as the deadline queue does when its timeout passes
            Assert.False(_queues.WaitsForTimeout(timedOut));
            Assert.True(_queues.WaitsForTimeout(others[0]));
        }

        var order = Drain().SelectMany(batch => batch).ToList();

        // a's remaining request and b's alternate (a arrived first), then the delayed one.
        Assert.Equal([others[0], others[1], others[2], timedOut], order);
    }

    [Fact]
    public void Remove_CancelledRequestsOfATenant_LeaveTheOthersOrderAndTheRoundRobinIntact()
    {
        var a = new TestTenant("a");
        var b = new TestTenant("b");
        var ofA = Enumerable.Range(0, 4).Select(_ => Enqueue(Request(1, a))).ToList();
        var ofB = Enumerable.Range(0, 2).Select(_ => Enqueue(Request(1, b))).ToList();
        lock (_queues.Gate)
        {
            _queues.Remove(ofB[0]);
            _queues.Remove(ofB[1]); // b has nothing left: its sub-queue goes
            Assert.Equal(1, _queues.TenantQueuesHeld());
        }
        Assert.True(_queues.TryWithdraw(ofA[1])); // a client gone while queued
        Assert.False(_queues.TryWithdraw(ofB[0])); // already out of its queue

        var order = Drain().SelectMany(batch => batch).ToList();

        Assert.Equal([ofA[0], ofA[2], ofA[3]], order);
    }

    [Fact]
    public void Plan_OldestRequestOfTheLevelListedAfterAnother_StillStartsTheDelay()
    {
        var a = new TestTenant("a");
        var b = new TestTenant("b");
        Enqueue(Request(1, a), at: 0);
        var older = Enqueue(Request(1, a), at: 0);
        var newer = Enqueue(Request(1, b), at: 600);
        lock (_queues.Gate)
        {
            _queues.Candidates(9);
            _queues.Take(1, []); // A's first request; A has had its turn
        }
        var rules = new BatchingRules(8, [], 1_000);

        lock (_queues.Gate)
        {
            var candidates = _queues.Candidates(9);
            Assert.Equal([newer, older], candidates);
            Assert.Equal(0, _queues.CandidatesOldest);
            // Measured from B's request the batch would wait 600 more ticks; A's has waited 1,000.
            Assert.Equal(BatchPlan.Wait(600), BatchPlanner.Plan(candidates, rules, 1_000));
            Assert.Equal(new BatchPlan(2, 0), BatchPlanner.Plan(candidates, rules, 1_000, _queues.CandidatesOldest));
        }
    }

    [Fact]
    public void Tenants_ThousandsOfDistinct_HoldNoSubQueueBeyondTheirQueuedRequests()
    {
        var requests = Enumerable.Range(0, 5_000).Select(i => Request(1, new TestTenant($"unknown-{i}"))).ToList();
        var queued = requests.Select(request => Enqueue(request)).ToList();
        Assert.Equal(5_000, _queues.TenantQueuesHeld());

        for (var i = 0; i < 2_500; i++)
        {
            lock (_queues.Gate)
            {
                _queues.Remove(queued[i]); // cancelled or timed out
            }
        }
        Assert.Equal(2_500, _queues.TenantQueuesHeld());
        Assert.Equal(2_500, Drain().Sum(batch => batch.Count));
        Assert.Equal(0, _queues.TenantQueuesHeld());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(3)]
    public void AddListTake_AllocateNoMoreThanOnePlainQueuePerRequest(int tenantCount)
    {
        var tenants = Enumerable.Range(0, tenantCount).Select(i => new TestTenant($"t{i}", weight: i + 1)).ToArray();
        var requests = Enumerable.Range(0, Math.Max(1, tenantCount)).Select(i => Request(1, tenantCount == 0 ? null : tenants[i])).ToArray();
        const int Count = 4_096;
        var pending = Enumerable.Range(0, Count).Select(i => new PendingRequest(requests[i % requests.Length], 0, i)).ToArray();
        var batch = new List<PendingRequest>(16);
        Cycle(pending.AsSpan(0, 64), batch); // warm: lists, pool and tables at their working size

        var before = GC.GetAllocatedBytesForCurrentThread();
        Cycle(pending, batch);
        var fair = GC.GetAllocatedBytesForCurrentThread() - before;

        var plain = new LinkedList<PendingRequest>();
        before = GC.GetAllocatedBytesForCurrentThread();
        foreach (var item in pending)
        {
            plain.AddLast(item);
        }
        while (plain.First is not null)
        {
            plain.RemoveFirst();
        }
        var baseline = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.True(fair <= baseline, $"{fair} bytes for {Count} requests through the fair queue; a plain queue takes {baseline}");
    }

    private void Cycle(ReadOnlySpan<PendingRequest> pending, List<PendingRequest> batch)
    {
        lock (_queues.Gate)
        {
            for (var i = 0; i < pending.Length; i += 8)
            {
                foreach (var item in pending.Slice(i, Math.Min(8, pending.Length - i)))
                {
                    _queues.Add(item);
                }
                var candidates = _queues.Candidates(9);
                _queues.Take(candidates.Count, batch);
                batch.Clear();
            }
        }
    }

    /// <summary>Both tenants keep requests waiting for <paramref name="batches"/> batches: the
    /// rows each got.</summary>
    private Dictionary<TestTenant, long> Share(TestTenant first, TestTenant second, InferenceRequest firstRequest, InferenceRequest secondRequest, int batches)
    {
        var rows = new Dictionary<TestTenant, long> { [first] = 0, [second] = 0 };
        var queued = new Dictionary<TestTenant, int> { [first] = 0, [second] = 0 };
        for (var i = 0; i < batches; i++)
        {
            foreach (var (tenant, request) in new[] { (first, firstRequest), (second, secondRequest) })
            {
                for (; queued[tenant] < 2 * Rules.MaxBatchSize; queued[tenant]++)
                {
                    Enqueue(request);
                }
            }
            foreach (var pending in NextBatch())
            {
                var tenant = (TestTenant)pending.Request.Tenant!;
                rows[tenant] += pending.Rows;
                queued[tenant]--;
            }
        }
        Drain();
        return rows;
    }

    private List<List<PendingRequest>> Drain()
    {
        var batches = new List<List<PendingRequest>>();
        while (_queues.Count > 0)
        {
            batches.Add(NextBatch());
        }
        return batches;
    }

    /// <summary>What an instance loop takes next, with the planner's answer.</summary>
    private List<PendingRequest> NextBatch()
    {
        var batch = new List<PendingRequest>();
        lock (_queues.Gate)
        {
            var candidates = _queues.Candidates(Rules.MaxBatchSize + 1);
            var plan = BatchPlanner.Plan(candidates, Rules, 0, _queues.CandidatesOldest);
            Assert.True(plan.Take > 0, "with no batching delay the planner sends what is queued");
            var listed = candidates.Take(plan.Take).ToList();
            _queues.Take(plan.Take, batch);
            Assert.Equal(listed, batch);
        }
        return batch;
    }

    private PendingRequest Enqueue(InferenceRequest request, int level = 1, long at = 0)
    {
        var pending = new PendingRequest(request, at, _sequence++) { Queue = level - 1 };
        lock (_queues.Gate)
        {
            _queues.Add(pending);
        }
        return pending;
    }

    private InferenceRequest Request(int rows, RequestTenant? tenant)
    {
        var input = new TensorBuffer(_pool, DataType.Fp32, [rows, 4], rows * 4, rows * 16);
        return new InferenceRequest([input], rows) { Tenant = tenant };
    }
}
