using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Tests.Support;
using Xunit;

namespace Fabrik.Tests.Protocol;

/// <summary>JSON inference over HTTP against the real server, checked against the expected
/// outputs that models/generate.py computed in Python.</summary>
[Collection(ServerCollection.Name)]
public sealed class HttpInferenceTests(ServerFixture fixture)
{
    private readonly HttpClient _client = fixture.Client;

    [Theory]
    [MemberData(nameof(Samples.All), MemberType = typeof(Samples))]
    public async Task Infer_StoredSample_ReturnsStoredExpectedOutputs(string model, int sampleIndex)
    {
        var sample = Samples.Sample(model, sampleIndex);
        var request = new JsonObject { ["id"] = $"{model}-{sampleIndex}", ["inputs"] = sample["inputs"]!.DeepClone() };

        var response = await PostAsync($"/v2/models/{model}/infer", request.ToJsonString());

        Assert.Equal(HttpStatusCode.OK, response.Status);
        var body = JsonNode.Parse(response.Body)!;
        Assert.Equal(model, (string)body["model_name"]!);
        Assert.Equal("1", (string)body["model_version"]!);
        Assert.Equal($"{model}-{sampleIndex}", (string)body["id"]!);
        TensorAssert.OutputsMatch(sample["outputs"]!.AsArray(), body["outputs"]!.AsArray(), (double)sample["tolerance"]!);
    }

    [Fact]
    public async Task Infer_MlpAndMlpTorch_AgreeWithinTolerance()
    {
        // The same network and weights on ONNX Runtime and on TorchSharp must agree within 1e-5.
        var features = Enumerable.Range(0, 3 * 16).Select(i => Math.Sin(i) * 3).ToArray();
        string Body(string input) => $$"""{"inputs":[{"name":"{{input}}","datatype":"FP32","shape":[3,16],"data":[{{string.Join(",", features)}}]}]}""";

        var onnx = JsonNode.Parse((await PostAsync("/v2/models/mlp/infer", Body("INPUT0"))).Body)!;
        var torch = JsonNode.Parse((await PostAsync("/v2/models/mlp_torch/infer", Body("INPUT__0"))).Body)!;

        var onnxData = TensorAssert.Flatten(onnx["outputs"]![0]!["data"]!);
        var torchData = TensorAssert.Flatten(torch["outputs"]![0]!["data"]!);
        Assert.Equal(12, onnxData.Count);
        Assert.Equal(12, torchData.Count);
        for (var i = 0; i < onnxData.Count; i++)
        {
            Assert.InRange(Math.Abs(onnxData[i].GetValue<double>() - torchData[i].GetValue<double>()), 0, 1e-5);
        }
    }

    [Fact]
    public async Task Infer_RequestedOutputSubset_ReturnsOnlyThatOutput()
    {
        var sample = Samples.Sample("simple", 0);
        var request = new JsonObject
        {
            ["inputs"] = sample["inputs"]!.DeepClone(),
            ["outputs"] = new JsonArray(new JsonObject { ["name"] = "OUTPUT1" }),
        };

        var response = await PostAsync("/v2/models/simple/infer", request.ToJsonString());

        Assert.Equal(HttpStatusCode.OK, response.Status);
        var outputs = JsonNode.Parse(response.Body)!["outputs"]!.AsArray();
        var expected = new JsonArray(sample["outputs"]!.AsArray().Single(output => (string?)output!["name"] == "OUTPUT1")!.DeepClone());
        TensorAssert.OutputsMatch(expected, outputs, 0);
    }

    [Fact]
    public async Task Infer_VersionInPath_UsesThatVersion()
    {
        var sample = Samples.Sample("simple", 0);
        var request = new JsonObject { ["inputs"] = sample["inputs"]!.DeepClone() };

        var found = await PostAsync("/v2/models/simple/versions/1/infer", request.ToJsonString());
        var missing = await PostAsync("/v2/models/simple/versions/7/infer", request.ToJsonString());

        Assert.Equal(HttpStatusCode.OK, found.Status);
        Assert.Equal(HttpStatusCode.NotFound, missing.Status);
        Assert.Contains("version 7", (string)JsonNode.Parse(missing.Body)!["error"]!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Infer_AfterManyRequests_ReturnsEveryPooledBuffer()
    {
        var sample = Samples.Sample("strings", 1);
        var body = new JsonObject { ["inputs"] = sample["inputs"]!.DeepClone() }.ToJsonString();
        for (var i = 0; i < 50; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await PostAsync("/v2/models/strings/infer", body)).Status);
            Assert.Equal(HttpStatusCode.BadRequest, (await PostAsync("/v2/models/strings/infer", body.Replace("\"BYTES\"", "\"INT32\"", StringComparison.Ordinal))).Status);
        }

        // The server returns a response's buffers right after writing it; allow it a moment.
        var pool = fixture.Server.TensorPool;
        await Eventually.HoldsAsync(() => pool.Outstanding == 0, TimeSpan.FromSeconds(10));
        Assert.Equal(0, pool.Outstanding);
    }

    private async Task<(HttpStatusCode Status, string Body)> PostAsync(string path, string json)
    {
        using var content = new StringContent(json, Encoding.UTF8, "application/json");
        using var response = await _client.PostAsync(path, content);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }
}
