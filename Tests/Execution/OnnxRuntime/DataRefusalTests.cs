using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Tests.Support;
using Xunit;

namespace Fabrik.Tests.Execution.OnnxRuntime;

/// <summary>
/// Values a model cannot compute with (the text "abc" where the `strings` model casts its input to
/// a number) are the request's fault: 400 naming the failed operation, never ONNX Runtime's own
/// text, no effect on the model's health, and, when such a request shares a dynamic batch, only it
/// fails. The same holds for an input shape the configuration allows but the graph refuses.
/// </summary>
public sealed class DataRefusalTests : IAsyncLifetime
{
    private readonly TemporaryRepository _repository = new TemporaryRepository()
        .Add("strings")
        // Batches of exactly two, waiting up to 20 s for the second: two requests sent together run together.
        .Add("strings", "paired_strings", "dynamic_batching { preferred_batch_size: [ 2 ] max_queue_delay_microseconds: 20000000 }\ninstance_group [ { count: 1, kind: KIND_CPU } ]")
        .Add("mlp")
        .Add("mlp", "loose_mlp");

    private InMemoryFabrik _server = null!;
    private HttpClient _client = null!;

    public async Task InitializeAsync()
    {
        // loose_mlp: mlp's graph fixes 16 columns; its configuration leaves the dimension free.
        var config = Path.Combine(_repository.Path, "loose_mlp", "config.pbtxt");
        File.WriteAllText(config, File.ReadAllText(config).Replace("dims: [ 16 ]", "dims: [ -1 ]", StringComparison.Ordinal));
        _server = await InMemoryFabrik.StartAsync("--model-repository", _repository.Path);
        _client = _server.CreateHttpClient();
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _server.DisposeAsync();
        _repository.Dispose();
    }

    [Fact]
    public async Task Infer_TextTheModelCannotCast_Is400NamingTheOperation_AndTheModelStaysReady()
    {
        // Ten refusals in a row: more than the consecutive backend failures that would take a
        // model out of service if they counted.
        for (var i = 0; i < 10; i++)
        {
            using var refused = await PostAsync("strings", Body("abc"));
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            var error = (string)JsonNode.Parse(await refused.Content.ReadAsStringAsync())!["error"]!;
            Assert.Contains("could not compute a result from the values of this request", error, StringComparison.Ordinal);
            Assert.Contains("Cast", error, StringComparison.Ordinal);
            Assert.DoesNotContain("onnxruntime", error, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("stoll", error, StringComparison.Ordinal);
        }

        using var ready = await _client.GetAsync("/v2/models/strings/ready");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        await AssertSampleServedAsync("strings");
    }

    [Fact]
    public async Task Infer_ShapeTheConfigurationAllowsButTheGraphRefuses_Is400InOurWords_AndTheModelStaysReady()
    {
        // 15 columns where the graph takes 16, built here rather than from the model's samples.
        var body = new JsonObject
        {
            ["inputs"] = new JsonArray(new JsonObject
            {
                ["name"] = "INPUT0", ["datatype"] = "FP32", ["shape"] = new JsonArray(1, 15),
                ["data"] = new JsonArray([.. Enumerable.Range(0, 15).Select(i => (JsonNode)(i * 0.25))]),
            }),
        }.ToJsonString();
        for (var i = 0; i < 10; i++)
        {
            using var refused = await PostAsync("loose_mlp", body);
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            var error = (string)JsonNode.Parse(await refused.Content.ReadAsStringAsync())!["error"]!;
            Assert.Equal("model 'loose_mlp' expects dimension 1 of input 'INPUT0' to be 16, got 15", error);
        }

        using var ready = await _client.GetAsync("/v2/models/loose_mlp/ready");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        var sample = Samples.Sample("mlp", 0);
        using var served = await PostAsync("loose_mlp", new JsonObject { ["inputs"] = sample["inputs"]!.DeepClone() }.ToJsonString());
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
    }

    [Fact]
    public async Task Infer_RefusedRequestInADynamicBatch_FailsAlone_AndItsBatchMateIsAnswered()
    {
        var sample = Samples.Sample("strings", 0);
        var good = PostAsync("paired_strings", new JsonObject { ["inputs"] = sample["inputs"]!.DeepClone() }.ToJsonString());
        var bad = PostAsync("paired_strings", Body("not-a-number"));
        await Task.WhenAll(good, bad);

        using var refused = await bad;
        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        using var served = await good;
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        TensorAssert.OutputsMatch(sample["outputs"]!.AsArray(), JsonNode.Parse(await served.Content.ReadAsStringAsync())!["outputs"]!.AsArray(), 0);
    }

    /// <summary>A one-row request whose last INPUT0 element is <paramref name="text"/>.</summary>
    private static string Body(string text)
    {
        var inputs = Samples.Sample("strings", 0)["inputs"]!.DeepClone().AsArray();
        var data = inputs[0]!["data"]!.AsArray();
        data[data.Count - 1] = text;
        return new JsonObject { ["inputs"] = inputs }.ToJsonString();
    }

    private Task<HttpResponseMessage> PostAsync(string model, string body) =>
        _client.PostAsync($"/v2/models/{model}/infer", new StringContent(body, Encoding.UTF8, "application/json"));

    private async Task AssertSampleServedAsync(string model)
    {
        var sample = Samples.Sample(model, 0);
        using var response = await PostAsync(model, new JsonObject { ["inputs"] = sample["inputs"]!.DeepClone() }.ToJsonString());
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        TensorAssert.OutputsMatch(sample["outputs"]!.AsArray(), JsonNode.Parse(await response.Content.ReadAsStringAsync())!["outputs"]!.AsArray(), 0);
    }
}
