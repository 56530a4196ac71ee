using System.Net;
using System.Text.Json.Nodes;
using Fabrik.Testing.SimulatedDevice;
using Xunit;

namespace Fabrik.Tests.Execution.Pipeline;

/// <summary>
/// The GPU pipeline on the simulated device, through the real server: answers, order, clients
/// that leave, failing runs, unloading and stopping with batches at every stage. Every request
/// must be answered exactly once, every pooled buffer returned and the staging's bytes given back
/// to the pinned pool's count. Each test runs under a time limit, so a stage that never drains
/// fails the test instead of holding up the suite.
/// </summary>
public sealed class SimulatedPipelineTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(90);

    /// <summary>16 FP32 values a row (64 bytes); copies at 3.2 kB/s take 20 ms a row each way
    /// (80 ms a full batch) and a run 100 ms: copying a batch in and another out takes longer than
    /// a run, so for most of each run one batch is copying in, one running and one copying out.</summary>
    private static readonly SimulatedModel Slow = new("sim")
    {
        Width = 16,
        MaxBatchSize = 4,
        RunMilliseconds = 100,
        CopyGigabytesPerSecond = 0.0000032,
        ExtraConfig = "parameters { key: \"pipeline_depth\" value: { string_value: \"3\" } }",
    };

    private static readonly SimulatedModel Fast = new("sim") { Width = 16, MaxBatchSize = 8, RunMilliseconds = 4, CopyGigabytesPerSecond = 0.00005 };

    [Fact]
    public Task Infer_200ConcurrentClients_EachGetsItsOwnValuesPlusOne() => Bounded(async () =>
    {
        await using var server = await SimulatedServer.StartAsync(Fast);
        Assert.Equal([2], server.Scheduler.PipelineDepths);

        var answers = await Task.WhenAll(Enumerable.Range(0, 200).Select(k => server.InferAsync(server.Values(k))));

        for (var k = 0; k < answers.Length; k++)
        {
            Assert.Equal(HttpStatusCode.OK, answers[k].Status);
            Assert.Equal(server.Values(k).Select(value => value + 1), answers[k].Outputs!);
        }
        Assert.InRange(server.Instance.Runs, 1, 199); // requests shared runs
        await server.StopAndCheckNothingLeakedAsync();
    });

    [Fact]
    public Task Batches_LeaveEveryStageInTheOrderTheyEntered() => Bounded(async () =>
    {
        await using var server = await SimulatedServer.StartAsync(Fast);
        server.Instance.RecordsOrder = true;

        await Task.WhenAll(Enumerable.Range(0, 120).Select(k => server.InferAsync(server.Values(k))));

        var copiedIn = server.Instance.CopyInOrder.ToArray();
        Assert.Equal(server.Instance.Runs, copiedIn.Length);
        Assert.Equal(copiedIn, server.Instance.RunOrder.ToArray());
        Assert.Equal(copiedIn, server.Instance.CopyOutOrder.ToArray());
        await server.StopAndCheckNothingLeakedAsync();
    });

    [Fact]
    public Task PipelineDepthOne_RunsEachBatchToItsEndBeforeTheNext() => Bounded(async () =>
    {
        await using var server = await SimulatedServer.StartAsync(Fast with { ExtraConfig = "parameters { key: \"pipeline_depth\" value: { string_value: \"1\" } }" });
        Assert.Equal([1], server.Scheduler.PipelineDepths);

        var answers = await Task.WhenAll(Enumerable.Range(0, 40).Select(k => server.InferAsync(server.Values(k))));

        Assert.All(answers, answer => Assert.Equal(HttpStatusCode.OK, answer.Status));
        Assert.Equal(server.Values(7).Select(value => value + 1), answers[7].Outputs!);
        await server.StopAndCheckNothingLeakedAsync();
    });

    [Fact]
    public Task ClientsLeave_WithBatchesAtEveryStage_EachRequestIsAnsweredOnceAndNothingLeaks() => Bounded(async () =>
    {
        await using var server = await SimulatedServer.StartAsync(Slow);
        const int count = 24;
        server.Instance.FreezeAtEveryStage();
        var leaving = Enumerable.Range(0, count).Select(_ => new CancellationTokenSource()).ToArray();
        var requests = Enumerable.Range(0, count).Select(k => server.InferAsync(server.Values(k), leaving[k].Token)).ToArray();
        await AtEveryStageAsync(server);

        foreach (var client in leaving)
        {
            await client.CancelAsync();
        }
        server.Instance.Thaw();
        foreach (var request in requests)
        {
            try
            {
                Assert.Equal(HttpStatusCode.OK, (await request).Status);
            }
            catch (OperationCanceledException)
            {
                // this client went away
            }
        }

        var statistics = server.Loaded.Statistics;
        await Eventually.UntilAsync(() => statistics.Success.Count + statistics.Fail.Count == count, "every request answered");
        Assert.Equal(count, statistics.Success.Count + statistics.Fail.Count);
        Assert.InRange(server.Instance.RowsRun, 1, count - 1); // the queued rows whose clients had gone did not run
        await server.StopAndCheckNothingLeakedAsync();
    });

    [Fact]
    public Task Run_RefusesOneRequestsValues_OnlyThatRequestFails() => Bounded(async () =>
    {
        // Three requests fill a batch of 3 at once (the long delay keeps them waiting for each other).
        await using var server = await SimulatedServer.StartAsync(Fast with { MaxBatchSize = 3, Batching = "dynamic_batching { max_queue_delay_microseconds: 10000000 }" });
        server.Instance.RecordsOrder = true;
        var refused = server.Values(2);
        refused[0] = float.NaN;

        var answers = await Task.WhenAll(server.InferAsync(server.Values(1)), server.InferAsync(refused), server.InferAsync(server.Values(3)));

        Assert.Equal(HttpStatusCode.OK, answers[0].Status);
        Assert.Equal(server.Values(1).Select(value => value + 1), answers[0].Outputs!);
        Assert.Equal(HttpStatusCode.BadRequest, answers[1].Status);
        Assert.Contains("refuses row 0: its first value is NaN", answers[1].Body, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, answers[2].Status);
        Assert.Equal(server.Values(3).Select(value => value + 1), answers[2].Outputs!);
        // The batch was copied in once, then each request again on its own; two of those ran.
        Assert.Equal(4, server.Instance.CopyInOrder.Count);
        Assert.Equal(2, server.Instance.Runs);
        await server.StopAndCheckNothingLeakedAsync();
    });

    [Fact]
    public Task Run_DeviceFault_FailsItsBatchAndTheNextRequestsSucceed() => Bounded(async () =>
    {
        await using var server = await SimulatedServer.StartAsync(Fast);

        var faulty = await server.InferAsync(server.Values(-5));
        var after = await Task.WhenAll(Enumerable.Range(0, 20).Select(k => server.InferAsync(server.Values(k))));

        Assert.Equal(HttpStatusCode.InternalServerError, faulty.Status);
        Assert.DoesNotContain("/", JsonNode.Parse(faulty.Body)!["error"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.All(after, answer => Assert.Equal(HttpStatusCode.OK, answer.Status));
        await server.StopAndCheckNothingLeakedAsync();
    });

    [Fact]
    public Task Unload_WithBatchesAtEveryStage_AnswersEachRequestAndFreesTheStaging() => Bounded(async () =>
    {
        await using var server = await SimulatedServer.StartAsync(Slow, "--model-control-mode=explicit", "--load-model=sim");
        var pool = server.Fabrik.Server.TensorPool;
        var statistics = server.Loaded.Statistics;
        server.Instance.FreezeAtEveryStage();
        var requests = Enumerable.Range(0, 20).Select(k => server.InferAsync(server.Values(k))).ToArray();
        await AtEveryStageAsync(server);

        var unloading = server.Client.PostAsync("/v2/repository/models/sim/unload", null);
        await Eventually.UntilAsync(async () =>
        {
            using var ready = await server.Client.GetAsync("/v2/models/sim/ready");
            return ready.StatusCode != HttpStatusCode.OK;
        }, "the model no longer ready");
        server.Instance.Thaw();
        using var unload = await unloading;
        var answers = await Task.WhenAll(requests);

        Assert.Equal(HttpStatusCode.OK, unload.StatusCode);
        for (var k = 0; k < answers.Length; k++)
        {
            Assert.Equal(HttpStatusCode.OK, answers[k].Status);
            Assert.Equal(server.Values(k).Select(value => value + 1), answers[k].Outputs!);
        }
        Assert.Equal(answers.Length, statistics.Success.Count);
        await Eventually.UntilAsync(() => pool.ExternalBytes == 0 && pool.Outstanding == 0, "the unloaded model's staging and buffers back");
        await server.StopAndCheckNothingLeakedAsync();
    });

    [Fact]
    public Task Stop_WithBatchesAtEveryStage_AnswersEachRequestOnce() => Bounded(async () =>
    {
        await using var server = await SimulatedServer.StartAsync(Slow);
        var statistics = server.Loaded.Statistics;
        server.Instance.FreezeAtEveryStage();
        var requests = Enumerable.Range(0, 20).Select(k => server.InferAsync(server.Values(k))).ToArray();
        await AtEveryStageAsync(server);

        var models = server.Fabrik.Server.Models;
        var stop = server.StopAndCheckNothingLeakedAsync();
        await Eventually.UntilAsync(() => !models.AllModelsReady, "the server stopping");
        server.Instance.Thaw();
        foreach (var request in requests)
        {
            try
            {
                Assert.Contains((await request).Status, new[] { HttpStatusCode.OK, HttpStatusCode.ServiceUnavailable });
            }
            catch (Exception e) when (e is HttpRequestException or OperationCanceledException or IOException)
            {
                // the in-memory connection closed with the server; the server still answered it
            }
        }
        await stop;
        Assert.Equal(requests.Length, statistics.Success.Count + statistics.Fail.Count);
    });

    [Fact]
    public Task PinnedPool_CountsEveryStagingSetWhileLoaded() => Bounded(async () =>
    {
        // Three sets (depth 2, and the one the instance runs whole batches through) of
        // 4 rows × (64 input + 64 output bytes).
        var model = Fast with { MaxBatchSize = 4 };
        const long setBytes = 4 * (64 + 64);
        await using var server = await SimulatedServer.StartAsync(model, "--pinned-memory-pool-byte-size=1048576");
        var pool = server.Fabrik.Server.TensorPool;

        Assert.Equal(3 * setBytes, pool.ExternalBytes);
        Assert.InRange(pool.LiveBytes, 3 * setBytes, pool.ByteLimit);
        Assert.Equal(HttpStatusCode.OK, (await server.InferAsync(server.Values(1))).Status);
        await server.StopAndCheckNothingLeakedAsync();
    });

    [Fact]
    public Task PinnedPool_TooSmallForThePipeline_RunsOneBatchAtATimeAndStillAnswers() => Bounded(async () =>
    {
        // 16 rows × 1024 values × 4 bytes each way: 128 KiB a set. A 256 KiB pool holds the
        // instance's own set and one more, not the two a pipeline needs.
        var model = Fast with { Width = 1024, MaxBatchSize = 16, CopyGigabytesPerSecond = 1 };
        await using var server = await SimulatedServer.StartAsync(model, "--pinned-memory-pool-byte-size=262144");

        Assert.Equal([1], server.Scheduler.PipelineDepths);
        Assert.Equal(128 * 1024, server.Fabrik.Server.TensorPool.ExternalBytes);
        var answer = await server.InferAsync(server.Values(3));
        Assert.Equal(HttpStatusCode.OK, answer.Status);
        Assert.Equal(server.Values(3).Select(value => value + 1), answer.Outputs!);
        await server.StopAndCheckNothingLeakedAsync();
    });

    [Theory]
    [InlineData("0")]
    [InlineData("9")]
    [InlineData("two")]
    public Task PipelineDepth_OutOfRange_FailsTheLoadWithTheReason(string depth) => Bounded(async () =>
    {
        await using var server = await SimulatedServer.StartAsync(Fast with { ExtraConfig = $"parameters {{ key: \"pipeline_depth\" value: {{ string_value: \"{depth}\" }} }}" });

        using var index = await server.Client.PostAsync("/v2/repository/index", null);
        var entry = JsonNode.Parse(await index.Content.ReadAsStringAsync())!.AsArray().Single()!;
        Assert.Equal("UNAVAILABLE", (string?)entry["state"]);
        Assert.Contains($"parameter pipeline_depth must be an integer from 1 to 8, not '{depth}'", (string?)entry["reason"], StringComparison.Ordinal);
    });

    [Fact]
    public Task Watchdog_SeesTheRunStageOfAPipeline() => Bounded(async () =>
    {
        await using var server = await SimulatedServer.StartAsync(Slow);
        using var stop = new CancellationTokenSource();
        var load = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                Assert.Equal(HttpStatusCode.OK, (await server.InferAsync(server.Values(1))).Status);
            }
        });

        await Eventually.UntilAsync(() => server.Instance.Occupancy.Running == 1 && server.Scheduler.LongestRun > TimeSpan.Zero,
            "the watchdog's view of a run in progress");
        await stop.CancelAsync();
        await load;
        await Eventually.UntilAsync(() => server.Scheduler.LongestRun == TimeSpan.Zero, "the run stage idle again");
        await server.StopAndCheckNothingLeakedAsync();
    });

    /// <summary>Waits until the device, armed with <see cref="SimulatedDeviceInstance.FreezeAtEveryStage"/>,
    /// holds a batch copying in, one running and one copying out, with more requests queued.</summary>
    private static async Task AtEveryStageAsync(SimulatedServer server)
    {
        await Eventually.UntilAsync(() => server.Instance.Frozen && server.Scheduler.QueuedCount > 0, "batches in every stage and requests queued");
        Assert.True(server.Instance.Occupancy is { CopyingIn: > 0, Running: > 0, CopyingOut: > 0 });
    }

    /// <summary>Fails a test that takes longer than <see cref="Limit"/> (a stage that never drains).</summary>
    private static Task Bounded(Func<Task> test) => test().WaitAsync(Limit);
}
