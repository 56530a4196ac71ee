using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Tests.Support;
using Xunit;

namespace Fabrik.Tests.Protocol;

/// <summary>Triton's HTTP extensions: model configuration, statistics, repository index, and the
/// load/unload endpoints (refused in control mode NONE).</summary>
[Collection(ServerCollection.Name)]
public sealed class HttpExtensionTests(ServerFixture fixture)
{
    private readonly HttpClient _client = fixture.Client;

    [Fact]
    public async Task Get_ModelConfig_FollowsProtobufJsonMapping()
    {
        var config = JsonNode.Parse(await _client.GetStringAsync("/v2/models/simple/config"))!;

        Assert.Equal("simple", (string)config["name"]!);
        Assert.Equal("onnxruntime_onnx", (string)config["platform"]!);
        Assert.Equal(8, (int)config["max_batch_size"]!);
        var input = config["input"]![0]!;
        Assert.Equal("INPUT0", (string)input["name"]!);
        Assert.Equal("TYPE_INT32", (string)input["data_type"]!);
        Assert.Equal("16", (string)input["dims"]![0]!); // int64 travels as a string in protobuf JSON
        Assert.Equal("model.onnx", (string)config["default_model_filename"]!);
        // No instance_group in config.pbtxt: reported as placed, with Triton's CPU defaults
        // (2 instances for ONNX Runtime, 1 for PyTorch).
        var group = config["instance_group"]!.AsArray().Single()!;
        Assert.Equal(("KIND_CPU", 2), ((string)group["kind"]!, (int)group["count"]!));

        var versioned = JsonNode.Parse(await _client.GetStringAsync("/v2/models/mlp_torch/versions/1/config"))!;
        Assert.Equal("pytorch_libtorch", (string)versioned["platform"]!);
        Assert.Equal("model.pt", (string)versioned["default_model_filename"]!);
        var torchGroup = versioned["instance_group"]!.AsArray().Single()!;
        Assert.Equal(("KIND_CPU", 1), ((string)torchGroup["kind"]!, (int)torchGroup["count"]!));
    }

    [Fact]
    public async Task Get_Statistics_CountSuccessesFailuresAndRows()
    {
        var before = await StatisticsAsync("strings");
        var sample = Samples.Sample("strings", 1);  // batch of 2 rows
        var good = new JsonObject { ["inputs"] = sample["inputs"]!.DeepClone() }.ToJsonString();
        for (var i = 0; i < 3; i++)
        {
            using var ok = await _client.PostAsync("/v2/models/strings/infer", new StringContent(good, Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }
        using var bad = await _client.PostAsync("/v2/models/strings/infer", new StringContent("{\"inputs\":[]}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);

        var after = await StatisticsAsync("strings");
        long Count(JsonNode stats, string name) => (long)stats["inference_stats"]![name]!["count"]!;
        long Ns(JsonNode stats, string name) => (long)stats["inference_stats"]![name]!["ns"]!;
        Assert.Equal(3, Count(after, "success") - Count(before, "success"));
        Assert.Equal(1, Count(after, "fail") - Count(before, "fail"));
        Assert.Equal(6, (long)after["inference_count"]! - (long)before["inference_count"]!);
        Assert.Equal(3, (long)after["execution_count"]! - (long)before["execution_count"]!);
        foreach (var phase in new[] { "success", "queue", "compute_input", "compute_infer", "compute_output" })
        {
            Assert.True(Ns(after, phase) > Ns(before, phase), $"{phase} time did not grow");
        }
        var batch = after["batch_stats"]!.AsArray().Single(b => (int)b!["batch_size"]! == 2)!;
        Assert.True((long)batch["compute_infer"]!["count"]! >= 3);
        Assert.True((long)after["last_inference"]! > DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeMilliseconds());

        var all = JsonNode.Parse(await _client.GetStringAsync("/v2/models/stats"))!["model_stats"]!.AsArray();
        Assert.Equal(Samples.RepositoryModelNames.Order(StringComparer.Ordinal), all.Select(m => (string)m!["name"]!));
    }

    [Fact]
    public async Task Post_RepositoryIndex_ListsEveryModelAndItsState()
    {
        using var response = await _client.PostAsync("/v2/repository/index", new StringContent("{\"ready\": true}", Encoding.UTF8, "application/json"));
        var index = JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsArray();

        Assert.Equal(Samples.RepositoryModelNames.Order(StringComparer.Ordinal), index.Select(m => (string)m!["name"]!));
        Assert.All(index, m => Assert.Equal("READY", (string)m!["state"]!));
        Assert.All(index, m => Assert.Equal("1", (string)m!["version"]!));
    }

    [Theory]
    [InlineData("load")]
    [InlineData("unload")]
    public async Task Post_LoadOrUnload_IsRefusedWithReason(string action)
    {
        using var response = await _client.PostAsync($"/v2/repository/models/simple/{action}", new StringContent("{}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Contains("model control mode NONE", (string)JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Get_ServerMetadata_ListsImplementedExtensions()
    {
        var extensions = JsonNode.Parse(await _client.GetStringAsync("/v2"))!["extensions"]!.AsArray().Select(e => (string)e!).ToArray();
        Assert.Contains("binary_tensor_data", extensions);
        Assert.Contains("statistics", extensions);
        Assert.Contains("model_configuration", extensions);
        Assert.Contains("trace", extensions);
    }

    private async Task<JsonNode> StatisticsAsync(string model) =>
        JsonNode.Parse(await _client.GetStringAsync($"/v2/models/{model}/stats"))!["model_stats"]![0]!;
}
