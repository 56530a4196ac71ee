using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Hosting;
using Fabrik.Tests.Support;
using Xunit;

namespace Fabrik.Tests.Execution;

/// <summary>Both backends through the real server: batch-size invariance and load failures.</summary>
public sealed class BackendTests
{
    [Theory]
    [InlineData("mlp", "INPUT0")]
    [InlineData("mlp_torch", "INPUT__0")]
    public async Task Infer_EveryBatchSize_GivesTheRowsOfSingleRequests(string model, string input)
    {
        await using var server = await InMemoryFabrik.StartAsync(ServerOptions.Parse(["--metrics-port=0", "--model-repository", RepositoryLayout.Models]));
        using var client = server.CreateHttpClient();
        var sample = Samples.Sample(model, 2); // 32 rows and PyTorch's outputs for them
        var rows = TensorAssert.Flatten(sample["inputs"]![0]!["data"]!).Select(v => v.GetValue<float>()).ToArray();
        var expected = TensorAssert.Flatten(sample["outputs"]![0]!["data"]!).Select(v => v.GetValue<float>()).ToArray();

        async Task<float[]> Infer(int first, int count)
        {
            var body = $$"""{"inputs":[{"name":"{{input}}","datatype":"FP32","shape":[{{count}},16],"data":[{{string.Join(",", rows.Skip(first * 16).Take(count * 16).Select(v => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture)))}}]}]}""";
            using var response = await client.PostAsync($"/v2/models/{model}/infer", new StringContent(body, Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return TensorAssert.Flatten(JsonNode.Parse(await response.Content.ReadAsStringAsync())!["outputs"]![0]!["data"]!).Select(v => v.GetValue<float>()).ToArray();
        }

        var singles = new float[32 * 4];
        for (var row = 0; row < 32; row++)
        {
            (await Infer(row, 1)).CopyTo(singles, row * 4);
        }
        for (var i = 0; i < singles.Length; i++)
        {
            Assert.InRange(Math.Abs(singles[i] - expected[i]), 0, 1e-5);
        }
        for (var size = 2; size <= 32; size++)
        {
            var batch = await Infer(32 - size, size);
            for (var i = 0; i < batch.Length; i++)
            {
                Assert.InRange(Math.Abs(batch[i] - singles[((32 - size) * 4) + i]), 0, 1e-6);
            }
        }
    }

    [Theory]
    [InlineData("mlp", "model.onnx")]
    [InlineData("mlp_torch", "model.pt")]
    public async Task Load_CorruptModelFile_MakesThatModelUnavailableWithTheBackendsReason(string model, string file)
    {
        using var repository = new TemporaryRepository().Add(model, "broken").Add("simple");
        File.WriteAllBytes(Path.Combine(repository.Path, "broken", "1", file), Encoding.ASCII.GetBytes("this is not a model"));
        await using var server = await InMemoryFabrik.StartAsync(ServerOptions.Parse(["--metrics-port=0", "--model-repository", repository.Path, "--exit-on-error=false"]));

        var broken = server.Server.Models.Models["broken"];
        Assert.Equal(Fabrik.Models.ModelState.Unavailable, broken.State);
        Assert.False(string.IsNullOrWhiteSpace(broken.Reason));
        Assert.Equal(Fabrik.Models.ModelState.Ready, server.Server.Models.Models["simple"].State);

        using var client = server.CreateHttpClient();
        using var index = await client.PostAsync("/v2/repository/index", new StringContent("", Encoding.UTF8, "application/json"));
        var entry = JsonNode.Parse(await index.Content.ReadAsStringAsync())!.AsArray().Single(m => (string)m!["name"]! == "broken")!;
        Assert.Equal("UNAVAILABLE", (string)entry["state"]!);
        Assert.Equal(broken.Reason, (string)entry["reason"]!);
    }
}
