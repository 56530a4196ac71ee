using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Benchmarks.InMemory;
using Fabrik.Hosting;
using Fabrik.Tests.Support;
using Xunit;

namespace Fabrik.Tests.Execution;

/// <summary>The sample models on GPU 0 through the real server: ONNX Runtime's CUDA execution
/// provider and TorchSharp on cuda:0 must give the outputs stored at generation time.</summary>
[Trait("Category", "Gpu")]
public sealed class GpuExecutionTests
{
    [GpuFact]
    public async Task Infer_OnGpu0_ReturnsStoredOutputsForOnnxAndTorchScript()
    {
        using var repository = new TemporaryRepository()
            .Add("mlp", extraConfig: "instance_group [ { kind: KIND_GPU, gpus: [ 0 ] } ]")
            .Add("mlp_torch", extraConfig: "instance_group [ { kind: KIND_GPU, gpus: [ 0 ] } ]");
        await using var server = await InMemoryFabrik.StartAsync(ServerOptions.Parse(["--metrics-port=0", "--model-repository", repository.Path]));
        using var client = server.CreateHttpClient();

        foreach (var model in new[] { "mlp", "mlp_torch" })
        {
            Assert.Equal("GPU 0", server.Server.Models.Resolve(model, null).Scheduler.InstanceDevices);
            foreach (var sample in Samples.Load(model)["samples"]!.AsArray())
            {
                var body = new JsonObject { ["inputs"] = sample!["inputs"]!.DeepClone() }.ToJsonString();
                using var response = await client.PostAsync($"/v2/models/{model}/infer", new StringContent(body, Encoding.UTF8, "application/json"));
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                var outputs = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["outputs"]!.AsArray();
                TensorAssert.OutputsMatch(sample["outputs"]!.AsArray(), outputs, (double)sample["tolerance"]!);
            }
        }
    }
}
