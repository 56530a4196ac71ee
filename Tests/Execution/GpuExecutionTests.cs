using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Hosting;
using Fabrik.Native;
using Fabrik.Tests.Support;
using Xunit;

namespace Fabrik.Tests.Execution;

/// <summary>The sample models on a GPU through the real server: ONNX Runtime's CUDA execution
/// provider (and TorchSharp on cuda:N where libtorch has CUDA) must give the outputs stored at
/// generation time, and the memory must be on the GPU the instance group names.</summary>
[Trait("Category", "Gpu")]
public sealed class GpuExecutionTests
{
    /// <summary>With TF32 off (the model's use_tf32 parameter), the CUDA provider computes in full
    /// FP32 and must match the stored outputs within the sample's own tolerance.</summary>
    [GpuFact]
    public Task Infer_OnnxOnGpu0WithoutTf32_ReturnsStoredOutputs() =>
        InferOnGpu0Async("mlp", "parameters { key: \"use_tf32\" value: { string_value: \"0\" } }");

    /// <summary>ONNX Runtime's default on Ampere and later is TF32 (10-bit mantissa) for FP32
    /// matrix products: the outputs must still match, within a tolerance TF32 can meet.</summary>
    [GpuFact]
    public Task Infer_OnnxOnGpu0WithDefaultTf32_ReturnsStoredOutputsWithinTf32Tolerance() =>
        InferOnGpu0Async("mlp", toleranceAtLeast: 2e-3);

    [GpuFact(NeedsLibTorchCuda = true)]
    public Task Infer_TorchScriptOnGpu0_ReturnsStoredOutputs() => InferOnGpu0Async("mlp_torch");

    [GpuFact(NeedsCpuLibTorch = true)]
    public async Task Load_TorchScriptOnGpuWithCpuLibTorch_FailsWithTheReasonWhileOnnxServes()
    {
        using var repository = new TemporaryRepository()
            .Add("mlp", extraConfig: "instance_group [ { kind: KIND_GPU, gpus: [ 0 ] } ]")
            .Add("mlp_torch", extraConfig: "instance_group [ { kind: KIND_GPU, gpus: [ 0 ] } ]");
        await using var server = await InMemoryFabrik.StartAsync(ServerOptions.Parse(["--model-repository", repository.Path, "--exit-on-error=false"]));
        using var client = server.CreateHttpClient();

        using var response = await client.PostAsync("/v2/repository/index", new StringContent("{}", Encoding.UTF8, "application/json"));
        var index = JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsArray().ToDictionary(entry => (string)entry!["name"]!, entry => entry!);
        Assert.Equal("READY", (string?)index["mlp"]["state"]);
        Assert.Equal("UNAVAILABLE", (string?)index["mlp_torch"]["state"]);
        Assert.Contains("asks for KIND_GPU, but this build's libtorch is the CPU one", (string?)index["mlp_torch"]["reason"], StringComparison.Ordinal);
    }

    /// <summary>A separate server process with its instance on the last GPU: NVML must show that
    /// process's memory on that GPU and on no other.</summary>
    [GpuFact]
    public async Task Placement_OnTheLastGpu_ShowsTheProcessMemoryThereThroughNvml()
    {
        var inventory = GpuInventory.Query();
        var pinned = inventory.Devices[^1].Index;
        using var repository = new TemporaryRepository().Add("cnn", extraConfig: $"instance_group [ {{ kind: KIND_GPU, gpus: [ {pinned} ] }} ]");
        await using var server = await FabrikProcess.StartAsync("--model-repository", repository.Path, "--http-port", "0", "--grpc-port", "0", "--metrics-port", "0", "--allow-grpc=false");
        using var client = new HttpClient { BaseAddress = server.Address };
        var sample = Samples.Load("cnn")["samples"]!.AsArray()[0]!;
        using var response = await client.PostAsync("/v2/models/cnn/infer",
            new StringContent(new JsonObject { ["inputs"] = sample["inputs"]!.DeepClone() }.ToJsonString(), Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var used = inventory.MemoryUsedBy(server.Process.Id);
        Assert.True(used.ContainsKey(pinned), $"NVML shows no context of process {server.Process.Id} on GPU {pinned}");
        Assert.Equal([pinned], used.Keys);
    }

    private static async Task InferOnGpu0Async(string model, string extraConfig = "", double toleranceAtLeast = 0)
    {
        using var repository = new TemporaryRepository().Add(model, extraConfig: "instance_group [ { kind: KIND_GPU, gpus: [ 0 ] } ]\n" + extraConfig);
        await using var server = await InMemoryFabrik.StartAsync(ServerOptions.Parse(["--model-repository", repository.Path]));
        using var client = server.CreateHttpClient();

        Assert.Equal("GPU 0", server.Server.Models.Resolve(model, null).Scheduler.InstanceDevices);
        foreach (var sample in Samples.Load(model)["samples"]!.AsArray())
        {
            var body = new JsonObject { ["inputs"] = sample!["inputs"]!.DeepClone() }.ToJsonString();
            using var response = await client.PostAsync($"/v2/models/{model}/infer", new StringContent(body, Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var outputs = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["outputs"]!.AsArray();
            TensorAssert.OutputsMatch(sample["outputs"]!.AsArray(), outputs, Math.Max((double)sample["tolerance"]!, toleranceAtLeast));
        }
    }
}
