using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Hosting;
using Fabrik.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Fabrik.Tests.Scheduling;

/// <summary>The dynamic batcher and queue policies through the real server (Kestrel, ONNX
/// Runtime), each test on its own repository with the configuration it needs.</summary>
public sealed class BatchingServerTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Infer_32ConcurrentClients_FormBatchesAndEachGetsItsOwnRow()
    {
        using var repository = new TemporaryRepository().Add("mlp", extraConfig: "dynamic_batching { max_queue_delay_microseconds: 2000 }");
        await using var server = await StartAsync(repository);
        using var client = server.CreateHttpClient();
        var sample = Samples.Sample("mlp", 2); // 32 rows with expected outputs from PyTorch
        var rows = TensorAssert.Flatten(sample["inputs"]![0]!["data"]!).Select(v => v.GetValue<double>()).ToArray();
        var expected = TensorAssert.Flatten(sample["outputs"]![0]!["data"]!).Select(v => v.GetValue<double>()).ToArray();
        const int clients = 32, requestsPerClient = 20;

        await Task.WhenAll(Enumerable.Range(0, clients).Select(async c =>
        {
            for (var r = 0; r < requestsPerClient; r++)
            {
                var row = (c + r) % 32;
                var body = $$"""{"inputs":[{"name":"INPUT0","datatype":"FP32","shape":[1,16],"data":[{{string.Join(",", rows.Skip(row * 16).Take(16))}}]}]}""";
                using var response = await client.PostAsync("/v2/models/mlp/infer", new StringContent(body, Encoding.UTF8, "application/json"));
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                var probabilities = TensorAssert.Flatten(JsonNode.Parse(await response.Content.ReadAsStringAsync())!["outputs"]![0]!["data"]!);
                for (var k = 0; k < 4; k++)
                {
                    Assert.InRange(Math.Abs(probabilities[k].GetValue<double>() - expected[row * 4 + k]), 0, 1e-5);
                }
            }
        }));

        var stats = JsonNode.Parse(await client.GetStringAsync("/v2/models/mlp/stats"))!["model_stats"]![0]!;
        var inferences = (long)stats["inference_count"]!;
        var executions = (long)stats["execution_count"]!;
        var batches = stats["batch_stats"]!.AsArray().Select(b => ((int)b!["batch_size"]!, (long)b["compute_infer"]!["count"]!)).ToList();
        output.WriteLine($"{inferences} inferences in {executions} executions; batch sizes (size x executions): " + string.Join(", ", batches.Select(b => $"{b.Item1}x{b.Item2}")));
        Assert.Equal(clients * requestsPerClient, inferences);
        Assert.True(executions * 2 <= inferences, $"only {inferences} inferences in {executions} executions: batching did not happen");
        Assert.Contains(batches, b => b.Item1 > 1);
    }

    [Fact]
    public async Task Infer_10000DistinctRequests_EachGetsExactlyItsOwnOutputs()
    {
        using var repository = new TemporaryRepository().Add("simple", extraConfig: "dynamic_batching { max_queue_delay_microseconds: 500 }");
        await using var server = await StartAsync(repository);
        using var client = server.CreateHttpClient();
        const int total = 10_000, workers = 64;
        var next = -1;
        var mismatches = 0;

        await Task.WhenAll(Enumerable.Range(0, workers).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < total)
            {
                var rows = 1 + (i % 3);
                var a = Enumerable.Range(0, rows * 16).Select(j => (i * 1000) + j).ToArray();
                var b = Enumerable.Range(0, rows * 16).Select(j => (j * 3) - (i * 7)).ToArray();
                var body = $$"""
                    {"id":"{{i}}","inputs":[
                    {"name":"INPUT0","datatype":"INT32","shape":[{{rows}},16],"data":[{{string.Join(",", a)}}]},
                    {"name":"INPUT1","datatype":"INT32","shape":[{{rows}},16],"data":[{{string.Join(",", b)}}]}]}
                    """;
                using var response = await client.PostAsync("/v2/models/simple/infer", new StringContent(body, Encoding.UTF8, "application/json"));
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                var json = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
                Assert.Equal(i.ToString(System.Globalization.CultureInfo.InvariantCulture), (string)json["id"]!);
                var sum = TensorAssert.Flatten(json["outputs"]![0]!["data"]!).Select(v => v.GetValue<int>()).ToArray();
                var difference = TensorAssert.Flatten(json["outputs"]![1]!["data"]!).Select(v => v.GetValue<int>()).ToArray();
                if (!sum.SequenceEqual(a.Zip(b, (x, y) => x + y)) || !difference.SequenceEqual(a.Zip(b, (x, y) => x - y)))
                {
                    Interlocked.Increment(ref mismatches);
                }
            }
        }));

        Assert.Equal(0, mismatches);
        var stats = JsonNode.Parse(await client.GetStringAsync("/v2/models/simple/stats"))!["model_stats"]![0]!;
        output.WriteLine($"{(long)stats["inference_count"]!} rows in {(long)stats["execution_count"]!} executions");
        Assert.Equal(total, (long)stats["inference_stats"]!["success"]!["count"]!);
    }

    [Fact]
    public async Task Infer_QueuePolicies_AnswerFast503sAndDropAbandonedRequests()
    {
        // The manual clock never reaches the 60 s batching delay unless the test moves it, so
        // requests stay queued for as long as the test needs.
        using var repository = new TemporaryRepository()
            .Add("simple", "limited", "dynamic_batching { max_queue_delay_microseconds: 60000000 default_queue_policy { max_queue_size: 2 } }")
            .Add("simple", "timed", "dynamic_batching { max_queue_delay_microseconds: 60000000 default_queue_policy { timeout_action: REJECT default_timeout_microseconds: 1000 } }");
        var time = new ManualTimeProvider();
        await using var server = await StartAsync(repository, time);
        using var client = server.CreateHttpClient();
        var body = new JsonObject { ["inputs"] = Samples.Sample("simple", 0)["inputs"]!.DeepClone() }.ToJsonString();
        Task<HttpResponseMessage> Post(string model, CancellationToken cancellation = default) =>
            client.PostAsync($"/v2/models/{model}/infer", new StringContent(body, Encoding.UTF8, "application/json"), cancellation);
        var limited = server.Server.Models.Resolve("limited", null).Scheduler;
        var timed = server.Server.Models.Resolve("timed", null).Scheduler;

        // max_queue_size: the third request is refused at once.
        var queued = new[] { Post("limited"), Post("limited") };
        Assert.True(SpinWait.SpinUntil(() => limited.QueuedCount == 2, TimeSpan.FromSeconds(10)));
        using (var refused = await Post("limited"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.Contains("Exceeds maximum queue size", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // A client that goes away leaves the queue.
        using var abandon = new CancellationTokenSource();
        var abandoned = Post("timed", abandon.Token);
        Assert.True(SpinWait.SpinUntil(() => timed.QueuedCount == 1, TimeSpan.FromSeconds(10)));
        await abandon.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => abandoned);
        Assert.True(SpinWait.SpinUntil(() => timed.QueuedCount == 0, TimeSpan.FromSeconds(10)), "the abandoned request is still queued");

        // Queue timeout with REJECT: 503 "Request timeout expired" once the clock passes 1 ms.
        var expiring = Post("timed");
        Assert.True(SpinWait.SpinUntil(() => timed.QueuedCount == 1, TimeSpan.FromSeconds(10)));
        time.Advance(TimeSpan.FromMilliseconds(2));
        using (var expired = await expiring)
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, expired.StatusCode);
            Assert.Contains("Request timeout expired", await expired.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        // Moving past the batching delay releases the two queued requests as one batch.
        time.Advance(TimeSpan.FromSeconds(61));
        foreach (var response in await Task.WhenAll(queued))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            response.Dispose();
        }
        var pool = server.Server.TensorPool;
        Assert.True(SpinWait.SpinUntil(() => pool.Outstanding == 0, TimeSpan.FromSeconds(10)), $"{pool.Outstanding} buffers not returned");
    }

    [Fact]
    public async Task Infer_SubMillisecondQueueDelay_IsNeverCutShort()
    {
        // A lone request waits the whole max_queue_delay (300 µs) for company. Timers are coarser
        // than that and may fire early, so the batcher finishes sub-millisecond waits by yielding.
        // Only the lower bound is asserted (the machine is noisy); the mean is reported.
        using var repository = new TemporaryRepository().Add("mlp", extraConfig: "dynamic_batching { max_queue_delay_microseconds: 300 }");
        await using var server = await StartAsync(repository);
        using var client = server.CreateHttpClient();
        var body = new JsonObject { ["inputs"] = Samples.Sample("mlp", 0)["inputs"]!.DeepClone() }.ToJsonString();
        var statistics = server.Server.Models.Resolve("mlp", null).Statistics;
        const int requests = 20;

        for (var i = 0; i < requests; i++)
        {
            using var response = await client.PostAsync("/v2/models/mlp/infer", new StringContent(body, Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(requests, statistics.Queue.Count);
        Assert.Equal(requests, statistics.ExecutionCount);
        var meanMicroseconds = statistics.Queue.Nanoseconds / requests / 1000.0;
        output.WriteLine($"mean queue time {meanMicroseconds:F0} µs for a 300 µs max_queue_delay");
        Assert.True(meanMicroseconds >= 300, $"requests waited {meanMicroseconds:F0} µs on average, less than the 300 µs delay");
    }

    [Fact]
    public async Task Load_GpuInstanceGroupWithoutGpu_FailsThatModelClearlyAndServesTheOthers()
    {
        using var repository = new TemporaryRepository()
            .Add("simple", "simple_gpu", "instance_group [ { kind: KIND_GPU, gpus: [ 0 ] } ]")
            .Add("simple");
        await using var server = await StartAsync(repository);
        using var client = server.CreateHttpClient();

        using var index = await client.PostAsync("/v2/repository/index", new StringContent("", Encoding.UTF8, "application/json"));
        var models = JsonNode.Parse(await index.Content.ReadAsStringAsync())!.AsArray();
        var gpu = models.Single(m => (string)m!["name"]! == "simple_gpu")!;
        Assert.Equal("UNAVAILABLE", (string)gpu["state"]!);
        Assert.Contains("KIND_GPU", (string)gpu["reason"]!, StringComparison.Ordinal);
        Assert.Equal("READY", (string)models.Single(m => (string)m!["name"]! == "simple")!["state"]!);

        var body = new JsonObject { ["inputs"] = Samples.Sample("simple", 0)["inputs"]!.DeepClone() }.ToJsonString();
        using var ok = await client.PostAsync("/v2/models/simple/infer", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        using var unavailable = await client.PostAsync("/v2/models/simple_gpu/infer", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, unavailable.StatusCode);
        using var ready = await client.GetAsync("/v2/health/ready");
        Assert.Equal(HttpStatusCode.BadRequest, ready.StatusCode); // strict readiness: one model failed
    }

    private static Task<InMemoryFabrik> StartAsync(TemporaryRepository repository, TimeProvider? time = null) =>
        InMemoryFabrik.StartAsync(ServerOptions.Parse(["--metrics-port=0", "--model-repository", repository.Path, "--exit-on-error=false"]), time);
}
