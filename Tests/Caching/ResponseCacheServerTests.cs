using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Fabrik.Protocol.Triton;
using Fabrik.Tests.Observability;
using Fabrik.Tests.Support;
using Google.Protobuf;
using Xunit;

namespace Fabrik.Tests.Caching;

/// <summary>
/// The response cache as a client sees it, over HTTP and gRPC on the real pipeline: a hit is the
/// very bytes the miss that filled it produced, and it runs nothing (the statistics extension's
/// execution and inference counts stay put); a different input byte, other requested outputs or
/// another model is a miss; identical requests at once all get the right answer. Expected values
/// come from models/generate.py's samples, or from <c>mlp_plain</c>, the same network uncached.
/// </summary>
public sealed class ResponseCacheServerTests(CacheServerFixture fixture) : IClassFixture<CacheServerFixture>
{
    private readonly HttpClient _http = fixture.Http;
    private readonly GRPCInferenceService.GRPCInferenceServiceClient _grpc = fixture.Grpc;

    [Fact]
    public async Task Http_HitIsBitIdenticalToTheMiss_AndRunsNothing()
    {
        var sample = Samples.Sample("mlp", 0);
        var before = await CacheCounts.ReadAsync(_http, "mlp");

        var miss = await PostAsync("mlp", InputsOf(sample));
        var afterMiss = await CacheCounts.ReadAsync(_http, "mlp");
        var hit = await PostAsync("mlp", InputsOf(sample));
        var afterHit = await CacheCounts.ReadAsync(_http, "mlp");

        TensorAssert.OutputsMatch(sample["outputs"]!.AsArray(), JsonNode.Parse(miss)!["outputs"]!.AsArray(), (double)sample["tolerance"]!);
        Assert.Equal(miss, hit);
        Assert.Equal(new CacheCounts(Executions: 1, Inferences: 1, Successes: 1, Queued: 1, Hits: 0, Misses: 1), afterMiss - before);
        Assert.Equal(new CacheCounts(Executions: 0, Inferences: 0, Successes: 1, Queued: 1, Hits: 1, Misses: 0), afterHit - afterMiss);
    }

    [Fact]
    public async Task Grpc_HitIsBitIdenticalToTheMiss_AndRunsNothing()
    {
        var sample = Samples.Sample("mlp", 1); // a batch of 4 rows
        var request = GrpcSamples.RawRequest("mlp", sample);
        var before = await CacheCounts.ReadAsync(_grpc, "mlp");

        var miss = await _grpc.ModelInferAsync(request);
        var afterMiss = await CacheCounts.ReadAsync(_grpc, "mlp");
        var hit = await _grpc.ModelInferAsync(request);
        var afterHit = await CacheCounts.ReadAsync(_grpc, "mlp");

        var expected = BinaryTensors.Floats(BinaryTensors.Pack("FP32", sample["outputs"]![0]!["data"]!));
        var answered = BinaryTensors.Floats(miss.RawOutputContents[0].ToByteArray());
        Assert.All(expected.Zip(answered), pair => Assert.InRange(Math.Abs(pair.First - pair.Second), 0, (double)sample["tolerance"]!));
        Assert.Equal(miss.RawOutputContents[0].ToByteArray(), hit.RawOutputContents[0].ToByteArray());
        Assert.Equal(miss.Outputs, hit.Outputs);
        Assert.Equal(new CacheCounts(Executions: 1, Inferences: 4, Successes: 1, Queued: 1, Hits: 0, Misses: 1), afterMiss - before);
        Assert.Equal(new CacheCounts(Executions: 0, Inferences: 0, Successes: 1, Queued: 1, Hits: 1, Misses: 0), afterHit - afterMiss);
    }

    [Fact]
    public async Task OneDifferentInputByte_IsAMiss_AnsweredForItsOwnInput()
    {
        var request = GrpcSamples.RawRequest("mlp", Samples.Sample("mlp", 2)); // 32 rows
        var changed = request.Clone();
        var bytes = changed.RawInputContents[0].ToByteArray();
        bytes[^1] ^= 0x01; // one bit of the last float's exponent
        changed.RawInputContents[0] = ByteString.CopyFrom(bytes);
        var before = await CacheCounts.ReadAsync(_grpc, "mlp");

        var original = await _grpc.ModelInferAsync(request);
        var different = await _grpc.ModelInferAsync(changed);
        var differentAgain = await _grpc.ModelInferAsync(changed);
        var after = await CacheCounts.ReadAsync(_grpc, "mlp");

        Assert.Equal(new CacheCounts(Executions: 2, Inferences: 64, Successes: 3, Queued: 3, Hits: 1, Misses: 2), after - before);
        var uncached = changed.Clone();
        uncached.ModelName = "mlp_plain";
        var reference = BinaryTensors.Floats((await _grpc.ModelInferAsync(uncached)).RawOutputContents[0].ToByteArray());
        var answered = BinaryTensors.Floats(different.RawOutputContents[0].ToByteArray());
        Assert.All(reference.Zip(answered), pair => Assert.InRange(Math.Abs(pair.First - pair.Second), 0, 1e-5));
        Assert.NotEqual(original.RawOutputContents[0], different.RawOutputContents[0]);
        Assert.Equal(different.RawOutputContents[0], differentAgain.RawOutputContents[0]);
    }

    [Fact]
    public async Task DifferentRequestedOutputs_AreMisses_EachAnsweredAsAsked()
    {
        var sample = Samples.Sample("simple", 0);
        var expected = sample["outputs"]!.AsArray();
        JsonNode? outputs1 = new JsonArray(new JsonObject { ["name"] = "OUTPUT1" });
        JsonNode? outputs0Binary = new JsonArray(new JsonObject { ["name"] = "OUTPUT0", ["parameters"] = new JsonObject { ["binary_data"] = true } });
        var before = await CacheCounts.ReadAsync(_http, "simple");

        var all = JsonNode.Parse(await PostAsync("simple", InputsOf(sample)))!;
        var onlyOne = JsonNode.Parse(await PostAsync("simple", InputsOf(sample), outputs1))!;
        using var binary = await _http.PostAsync("/v2/models/simple/infer", JsonContent.Create(Body(InputsOf(sample), outputs0Binary)));
        var onlyOneAgain = JsonNode.Parse(await PostAsync("simple", InputsOf(sample), outputs1))!;
        var allAgain = JsonNode.Parse(await PostAsync("simple", InputsOf(sample)))!;
        var after = await CacheCounts.ReadAsync(_http, "simple");

        Assert.Equal(new CacheCounts(Executions: 3, Inferences: 3, Successes: 5, Queued: 5, Hits: 2, Misses: 3), after - before);
        TensorAssert.OutputsMatch(expected, all["outputs"]!.AsArray(), 0);
        TensorAssert.OutputsMatch(new JsonArray(expected[1]!.DeepClone()), onlyOne["outputs"]!.AsArray(), 0);
        TensorAssert.OutputsMatch(new JsonArray(expected[1]!.DeepClone()), onlyOneAgain["outputs"]!.AsArray(), 0);
        TensorAssert.OutputsMatch(expected, allAgain["outputs"]!.AsArray(), 0);
        Assert.Equal(HttpStatusCode.OK, binary.StatusCode);
        Assert.True(binary.Headers.Contains("Inference-Header-Content-Length") || binary.Content.Headers.Contains("Inference-Header-Content-Length"));
    }

    [Fact]
    public async Task SixtyFourIdenticalRequestsAtOnce_AllGetTheRightAnswer()
    {
        var sample = Samples.Sample("simple", 1);
        var before = await CacheCounts.ReadAsync(_http, "simple");

        var answers = await Task.WhenAll(Enumerable.Range(0, 64).Select(_ => PostAsync("simple", InputsOf(sample))));
        var after = await CacheCounts.ReadAsync(_http, "simple") - before;

        foreach (var answer in answers)
        {
            TensorAssert.OutputsMatch(sample["outputs"]!.AsArray(), JsonNode.Parse(answer)!["outputs"]!.AsArray(), 0);
        }
        // One run or several: every request that missed ran (simple has no dynamic batching), and
        // every other was a hit.
        Assert.Equal(64, after.Successes);
        Assert.Equal(64, after.Hits + after.Misses);
        Assert.InRange(after.Misses, 1, 64);
        Assert.Equal(after.Misses, after.Executions);
    }

    [Fact]
    public async Task AnotherModelWithTheSameInputs_IsAMiss()
    {
        var sample = Samples.Sample("mlp", 0);
        var input = InputsOf(sample);
        input[0]!["data"] = new JsonArray([.. Enumerable.Range(0, 16).Select(i => (JsonNode)(i * 0.125))]);
        var copyBefore = await CacheCounts.ReadAsync(_http, "mlp_copy");
        var mlpBefore = await CacheCounts.ReadAsync(_http, "mlp");

        var fromMlp = await PostAsync("mlp", input);
        var fromCopy = await PostAsync("mlp_copy", input);
        var fromCopyAgain = await PostAsync("mlp_copy", input);

        Assert.Equal(new CacheCounts(Executions: 1, Inferences: 1, Successes: 1, Queued: 1, Hits: 0, Misses: 1), await CacheCounts.ReadAsync(_http, "mlp") - mlpBefore);
        Assert.Equal(new CacheCounts(Executions: 1, Inferences: 1, Successes: 2, Queued: 2, Hits: 1, Misses: 1), await CacheCounts.ReadAsync(_http, "mlp_copy") - copyBefore);
        Assert.Equal("mlp", (string)JsonNode.Parse(fromMlp)!["model_name"]!);
        Assert.Equal("mlp_copy", (string)JsonNode.Parse(fromCopy)!["model_name"]!);
        Assert.Equal(fromCopy, fromCopyAgain);
    }

    [Fact]
    public async Task Metrics_ReportTritonsCacheFamilies()
    {
        await PostAsync("mlp_plain", InputsOf(Samples.Sample("mlp", 0)));
        await PostAsync("simple", InputsOf(Samples.Sample("simple", 2)));
        var mlp = await CacheCounts.ReadAsync(_http, "mlp");
        var simple = await CacheCounts.ReadAsync(_http, "simple");
        var copy = await CacheCounts.ReadAsync(_http, "mlp_copy");

        var families = await MetricsEndpointTests.ScrapeAsync(fixture.Server);

        var hits = MetricsEndpointTests.Family(families, "nv_cache_num_hits_per_model");
        Assert.Equal("counter", hits.Type);
        Assert.Equal("Number of cache hits per model", hits.Help);
        Assert.Equal(mlp.Hits, MetricsEndpointTests.Value(hits, "nv_cache_num_hits_per_model", ("model", "mlp"), ("version", "1")));
        var misses = MetricsEndpointTests.Family(families, "nv_cache_num_misses_per_model");
        Assert.Equal(simple.Misses, MetricsEndpointTests.Value(misses, "nv_cache_num_misses_per_model", ("model", "simple"), ("version", "1")));
        // Only the versions whose responses are cached carry the families, as in Triton.
        Assert.DoesNotContain(hits.Samples, sample => sample.Labels.GetValueOrDefault("model") == "mlp_plain");
        foreach (var name in new[] { "nv_cache_hit_duration_per_model", "nv_cache_miss_duration_per_model" })
        {
            var family = MetricsEndpointTests.Family(families, name);
            Assert.Equal("counter", family.Type);
            Assert.Equal(new[] { "model", "version" }, family.Samples.First().Labels.Keys.Order().ToArray());
        }
        Assert.Equal("Total cache hit duration per model, in microseconds", MetricsEndpointTests.Family(families, "nv_cache_hit_duration_per_model").Help);
        Assert.Equal("Total cache miss (insert+lookup) duration per model, in microseconds", MetricsEndpointTests.Family(families, "nv_cache_miss_duration_per_model").Help);

        // The cache as a whole, as Triton's local cache reports it: unlabelled gauges.
        foreach (var name in Fabrik.Observability.Metrics.ResponseCacheGauges.Names)
        {
            var family = MetricsEndpointTests.Family(families, name);
            Assert.Equal("gauge", family.Type);
            Assert.Empty(Assert.Single(family.Samples).Labels);
        }
        var allHits = mlp.Hits + simple.Hits + copy.Hits;
        var allMisses = mlp.Misses + simple.Misses + copy.Misses;
        Assert.Equal((double)allHits, Single(families, "nv_cache_num_hits"));
        Assert.Equal((double)allMisses, Single(families, "nv_cache_num_misses"));
        Assert.Equal(Single(families, "nv_cache_num_hits") + Single(families, "nv_cache_num_misses"), Single(families, "nv_cache_num_lookups"));
        Assert.InRange(Single(families, "nv_cache_util"), double.Epsilon, 1);
        Assert.InRange(Single(families, "nv_cache_num_entries"), 1, (double)allMisses);
    }

    [Fact]
    public async Task ConfigEndpoints_ShowResponseCache()
    {
        var cached = JsonNode.Parse(await _http.GetStringAsync("/v2/models/mlp/config"))!;
        var plain = JsonNode.Parse(await _http.GetStringAsync("/v2/models/mlp_plain/config"))!;
        var grpc = await _grpc.ModelConfigAsync(new ModelConfigRequest { Name = "simple" });

        Assert.True((bool)cached["response_cache"]!["enable"]!);
        Assert.False((bool)plain["response_cache"]!["enable"]!);
        Assert.True(grpc.Config.ResponseCache.Enable);
    }

    private static double Single(IReadOnlyDictionary<string, PrometheusFamily> families, string name) =>
        Assert.Single(MetricsEndpointTests.Family(families, name).Samples).Value;

    private static JsonArray InputsOf(JsonObject sample) => sample["inputs"]!.DeepClone().AsArray();

    private static JsonObject Body(JsonArray inputs, JsonNode? outputs = null)
    {
        var body = new JsonObject { ["inputs"] = inputs };
        if (outputs is not null)
        {
            body["outputs"] = outputs;
        }
        return body;
    }

    private async Task<byte[]> PostAsync(string model, JsonArray inputs, JsonNode? outputs = null)
    {
        using var response = await _http.PostAsync($"/v2/models/{model}/infer", JsonContent.Create(Body(inputs.DeepClone().AsArray(), outputs?.DeepClone())));
        var body = await response.Content.ReadAsByteArrayAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, System.Text.Encoding.UTF8.GetString(body));
        return body;
    }
}
