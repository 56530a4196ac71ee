using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Configuration;
using Fabrik.Errors;
using Fabrik.Hosting;
using Fabrik.Inference;
using Fabrik.Protocol.Triton;
using Fabrik.Scheduling;
using Fabrik.Tests.Support;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Xunit;

namespace Fabrik.Tests.Scheduling;

/// <summary>
/// Every queue is bounded (by max_queue_size, or by a default derived from the model), a full
/// queue answers at once with 503 + Retry-After or gRPC UNAVAILABLE (as Triton does), queue timeouts cost a heap
/// operation per request rather than a walk of the queue, and a cancelled request never runs.
/// </summary>
public sealed class QueueBoundsTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Infer_WithoutDynamicBatching_QueueIsBoundedByTheDefault()
    {
        await using var harness = new SchedulerHarness(batching: null, maxBatchSize: 1, instances: 1);
        var bound = QueueLimits.DefaultMaxQueueSize(1, 1);
        Assert.Equal(QueueLimits.DefaultFactor, bound);
        var requests = Enumerable.Range(0, bound + 2).Select(i => harness.Request(1, i)).ToList();
        var tasks = new List<Task<InferenceResponse>> { harness.Infer(requests[0]) };
        harness.Instances[0].WaitStarted();
        for (var i = 1; i <= bound; i++)
        {
            tasks.Add(harness.Scheduler.InferAsync(requests[i]));
        }
        Assert.Equal(bound, harness.Scheduler.QueuedCount);

        var error = Assert.Throws<InferenceException>(() => { _ = harness.Scheduler.InferAsync(requests[^1]); });

        Assert.Equal(ErrorKind.Overloaded, error.Kind);
        Assert.StartsWith("Exceeds maximum queue size", error.Message, StringComparison.Ordinal);
        harness.Instances[0].Release(bound + 1);
        foreach (var response in await Task.WhenAll(tasks).WaitAsync(Wait))
        {
            response.Dispose();
        }
        requests.ForEach(request => request.Dispose());
    }

    [Fact]
    public void DefaultMaxQueueSize_IsInstancesTimesBatchTimesTheFactor()
    {
        Assert.Equal(2 * 8 * QueueLimits.DefaultFactor, QueueLimits.DefaultMaxQueueSize(2, 8));
        Assert.Equal(3 * QueueLimits.DefaultFactor, QueueLimits.DefaultMaxQueueSize(3, 0));
        Assert.Equal(int.MaxValue, QueueLimits.DefaultMaxQueueSize(int.MaxValue, int.MaxValue));
    }

    [Fact]
    public async Task Timeouts_ExpireInDeadlineOrderWithoutWalkingTheQueue()
    {
        var policy = new QueuePolicyConfig(TimeoutAction.Reject, 0, true, 10_000);
        await using var harness = new SchedulerHarness(new DynamicBatchingConfig([], 0, false) { DefaultQueuePolicy = policy }, maxBatchSize: 1);
        var busy = harness.Request(1, 0);
        var first = harness.Infer(busy);
        harness.Instances[0].WaitStarted();
        // 2,000 requests without a timeout, and three with 3, 1 and 2 ms.
        var patient = Enumerable.Range(1, 2_000).Select(i => harness.Request(1, i)).ToList();
        var patientTasks = patient.Select(harness.Scheduler.InferAsync).ToList();
        var timed = new[] { 3_000L, 1_000L, 2_000L }.Select(us => harness.Request(1, 0, new Dictionary<string, object> { ["timeout"] = us })).ToList();
        var timedTasks = timed.Select(harness.Scheduler.InferAsync).ToList();

        for (var step = 1; step <= 3; step++)
        {
            harness.Time.Advance(TimeSpan.FromMilliseconds(1));
            var expired = step switch { 1 => 1, 2 => 2, _ => 0 };
            await Assert.ThrowsAsync<InferenceException>(() => timedTasks[expired].WaitAsync(Wait));
            Assert.Equal(step, timedTasks.Count(task => task.IsCompleted));
        }

        // Each expiry looked at the request it expired and at most the next deadline, not the
        // 2,000 requests that have none.
        Assert.InRange(harness.Scheduler.TimeoutExaminations, 3, 6);
        Assert.Equal(2_000, harness.Scheduler.QueuedCount);
        harness.Instances[0].Release(2_001);
        (await first.WaitAsync(Wait)).Dispose();
        foreach (var response in await Task.WhenAll(patientTasks).WaitAsync(Wait))
        {
            response.Dispose();
        }
        busy.Dispose();
        patient.ForEach(request => request.Dispose());
        timed.ForEach(request => request.Dispose());
    }

    [Fact]
    public async Task Infer_TokenAlreadyCancelled_NeverQueuesOrRuns()
    {
        await using var harness = new SchedulerHarness(new DynamicBatchingConfig([], 0, false), maxBatchSize: 1);
        using var busy = harness.Request(1, 0);
        var first = harness.Infer(busy);
        harness.Instances[0].WaitStarted();
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        using var request = harness.Request(1, 1, cancellation: cancelled.Token);

        var task = harness.Scheduler.InferAsync(request);

        Assert.True(task.IsCanceled);
        Assert.Equal(0, harness.Scheduler.QueuedCount);
        harness.Instances[0].Release();
        (await first.WaitAsync(Wait)).Dispose();
        Assert.Single(harness.Instances[0].Runs);
    }

    [Fact]
    public async Task FullQueue_OverHttpIs503WithRetryAfter_AndOverGrpcUnavailable()
    {
        // One queued request fills the queue: with a 60 s batching delay and room for 8 rows, it
        // waits there until the test cancels it.
        using var repository = new TemporaryRepository().Add("simple", extraConfig:
            "dynamic_batching { max_queue_delay_microseconds: 60000000 default_queue_policy { max_queue_size: 1 } }");
        await using var server = await FabrikServer.StartAsync(ServerOptions.Parse(
            ["--model-repository", repository.Path, "--http-port", "0", "--metrics-port", "0", "--grpc-port", "0"]));
        using var client = new HttpClient { BaseAddress = server.HttpAddress };
        var body = new JsonObject { ["inputs"] = Samples.Sample("simple", 0)["inputs"]!.DeepClone() }.ToJsonString();
        using var firstCancel = new CancellationTokenSource();
        var firstTask = client.PostAsync("/v2/models/simple/infer", new StringContent(body, Encoding.UTF8, "application/json"), firstCancel.Token);
        var scheduler = server.Models.Resolve("simple", null).Scheduler;
        while (scheduler.QueuedCount == 0)
        {
            Assert.False(firstTask.IsCompleted, "the first request should wait in the queue");
            await Task.Delay(10);
        }

        using var refused = await client.PostAsync("/v2/models/simple/infer", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(QueueLimits.RetryAfterSeconds), refused.Headers.RetryAfter?.Delta);
        Assert.Contains("Exceeds maximum queue size", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using var channel = GrpcChannel.ForAddress(server.GrpcAddress!);
        var grpc = new GRPCInferenceService.GRPCInferenceServiceClient(channel);
        var message = new ModelInferRequest { ModelName = "simple" };
        foreach (var input in Samples.Sample("simple", 0)["inputs"]!.AsArray())
        {
            var tensor = new ModelInferRequest.Types.InferInputTensor { Name = (string)input!["name"]!, Datatype = "INT32" };
            tensor.Shape.AddRange(TensorAssert.Longs(input["shape"]!));
            message.Inputs.Add(tensor);
            message.RawInputContents.Add(ByteString.CopyFrom(BinaryTensors.Pack("INT32", input["data"]!)));
        }
        // Triton answers a full queue with UNAVAILABLE, which its clients retry on.
        var error = await Assert.ThrowsAsync<RpcException>(() => grpc.ModelInferAsync(message).ResponseAsync);
        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        Assert.Contains("Exceeds maximum queue size", error.Status.Detail, StringComparison.Ordinal);

        await firstCancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => firstTask);
    }
}
