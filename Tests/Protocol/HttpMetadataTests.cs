using System.Net;
using System.Text.Json.Nodes;
using Fabrik.Tests.Support;
using Xunit;

namespace Fabrik.Tests.Protocol;

/// <summary>Health, server metadata, model metadata and model readiness over HTTP.</summary>
[Collection(ServerCollection.Name)]
public sealed class HttpMetadataTests(ServerFixture fixture)
{
    private readonly HttpClient _client = fixture.Client;

    [Theory]
    [InlineData("/v2/health/live")]
    [InlineData("/v2/health/ready")]
    [InlineData("/v2/models/simple/ready")]
    [InlineData("/v2/models/mlp_torch/ready")]
    [InlineData("/v2/models/strings/versions/1/ready")]
    public async Task Get_HealthOrReadiness_Returns200(string path)
    {
        using var response = await _client.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Get_ServerMetadata_NamesFabrik()
    {
        var body = JsonNode.Parse(await _client.GetStringAsync("/v2"))!;
        Assert.Equal("fabrik", (string)body["name"]!);
        Assert.False(string.IsNullOrEmpty((string?)body["version"]));
        Assert.NotNull(body["extensions"]!.AsArray());
    }

    [Fact]
    public async Task Get_ModelMetadata_DescribesSimpleAsTritonDoes()
    {
        var body = JsonNode.Parse(await _client.GetStringAsync("/v2/models/simple"))!;

        Assert.Equal("simple", (string)body["name"]!);
        Assert.Equal(["1"], body["versions"]!.AsArray().Select(v => (string)v!).ToArray());
        Assert.Equal("onnxruntime_onnx", (string)body["platform"]!);
        foreach (var section in new[] { "inputs", "outputs" })
        {
            var tensors = body[section]!.AsArray();
            Assert.Equal(2, tensors.Count);
            foreach (var tensor in tensors)
            {
                Assert.Equal("INT32", (string)tensor!["datatype"]!);
                Assert.Equal([-1L, 16L], TensorAssert.Longs(tensor["shape"]!));
            }
        }
        Assert.Equal(["INPUT0", "INPUT1"], body["inputs"]!.AsArray().Select(t => (string)t!["name"]!).ToArray());
    }

    [Fact]
    public async Task Get_TorchScriptModelMetadata_UsesTritonTensorNames()
    {
        var body = JsonNode.Parse(await _client.GetStringAsync("/v2/models/mlp_torch/versions/1"))!;
        Assert.Equal("pytorch_libtorch", (string)body["platform"]!);
        Assert.Equal("INPUT__0", (string)body["inputs"]![0]!["name"]!);
        Assert.Equal([-1L, 16L], TensorAssert.Longs(body["inputs"]![0]!["shape"]!));
        Assert.Equal("OUTPUT__0", (string)body["outputs"]![0]!["name"]!);
        Assert.Equal([-1L, 4L], TensorAssert.Longs(body["outputs"]![0]!["shape"]!));
    }

    [Theory]
    [InlineData("/v2/models/nonexistent")]
    [InlineData("/v2/models/nonexistent/ready")]
    [InlineData("/v2/models/simple/versions/2")]
    [InlineData("/v2/no/such/route")]
    public async Task Get_UnknownModelOrRoute_Returns404WithErrorMessage(string path)
    {
        using var response = await _client.GetAsync(path);
        var status = response.StatusCode;
        var text = await response.Content.ReadAsStringAsync();

        // Readiness answers with a bare status, as Triton does; the others carry an error body.
        if (path.EndsWith("/ready", StringComparison.Ordinal))
        {
            Assert.Equal(HttpStatusCode.BadRequest, status);
            return;
        }
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.False(string.IsNullOrWhiteSpace((string?)JsonNode.Parse(text)!["error"]));
    }
}
