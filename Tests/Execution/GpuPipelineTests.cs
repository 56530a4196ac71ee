using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Hosting;
using Fabrik.Tests.Support;
using Xunit;

namespace Fabrik.Tests.Execution;

/// <summary>The GPU pipeline on a real GPU: ONNX Runtime's staged instance (page-locked staging,
/// the instance's own CUDA stream, device buffers bound through an IOBinding) must give the
/// outputs stored at generation time, with one instance and two on one GPU, after warm-up, with
/// CUDA graphs, and at pipeline_depth 1 (the plain session).</summary>
[Trait("Category", "Gpu")]
public sealed class GpuPipelineTests
{
    private const string Gpu0 = "instance_group [ { kind: KIND_GPU, gpus: [ 0 ] } ]\ndynamic_batching { }\nparameters { key: \"use_tf32\" value: { string_value: \"0\" } }";

    [GpuFact]
    public Task Infer_StagedInstance_ConcurrentClientsGetTheStoredOutputs() => InferConcurrentlyAsync(Gpu0, expectedDepths: [2]);

    [GpuFact]
    public Task Infer_TwoStagedInstancesOnOneGpu_AnswerEveryRequestWithTheStoredOutputs() =>
        InferConcurrentlyAsync(Gpu0.Replace("kind: KIND_GPU", "count: 2, kind: KIND_GPU", StringComparison.Ordinal), expectedDepths: [2, 2]);

    [GpuFact]
    public Task Infer_PipelineDepthOne_RunsThePlainSession() =>
        InferConcurrentlyAsync(Gpu0 + "\nparameters { key: \"pipeline_depth\" value: { string_value: \"1\" } }", expectedDepths: [1]);

    [GpuFact]
    public Task Infer_AfterWarmupOfEveryBatchSize_GivesTheStoredOutputs() =>
        InferConcurrentlyAsync(Gpu0 + "\n" + string.Join("\n", Enumerable.Range(1, 8).Select(batch =>
            $"model_warmup [ {{ name: \"b{batch}\" batch_size: {batch} inputs {{ key: \"INPUT0\" value: {{ data_type: TYPE_FP32 dims: [ 16 ] zero_data: true }} }} }} ]")), expectedDepths: [2]);

    [GpuFact]
    public Task Infer_WithCudaGraphs_RepeatedRunsKeepTheStoredOutputs() =>
        InferConcurrentlyAsync(Gpu0 + "\nparameters { key: \"enable_cuda_graph\" value: { string_value: \"1\" } }", expectedDepths: [2]);

    /// <summary>Serves mlp with <paramref name="config"/> and sends every stored sample 16 times at
    /// once, so batches of several sizes go through every staging set.</summary>
    private static async Task InferConcurrentlyAsync(string config, int[] expectedDepths)
    {
        using var repository = new TemporaryRepository().Add("mlp", extraConfig: config);
        await using var server = await InMemoryFabrik.StartAsync(ServerOptions.Parse(["--model-repository", repository.Path]));
        using var client = server.CreateHttpClient();
        Assert.Equal(expectedDepths, server.Server.Models.Resolve("mlp", null).Scheduler.PipelineDepths);

        var samples = Samples.Load("mlp")["samples"]!.AsArray();
        var requests = Enumerable.Range(0, 16).SelectMany(_ => samples).Select(async sample =>
        {
            var body = new JsonObject { ["inputs"] = sample!["inputs"]!.DeepClone() }.ToJsonString();
            using var response = await client.PostAsync("/v2/models/mlp/infer", new StringContent(body, Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var outputs = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["outputs"]!.AsArray();
            TensorAssert.OutputsMatch(sample["outputs"]!.AsArray(), outputs, (double)sample["tolerance"]!);
        });
        await Task.WhenAll(requests).WaitAsync(TimeSpan.FromMinutes(2));
    }
}
