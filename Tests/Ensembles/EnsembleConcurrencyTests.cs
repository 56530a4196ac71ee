using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Fabrik.Hosting;
using Fabrik.Testing.SimulatedDevice;
using Xunit;

namespace Fabrik.Tests.Ensembles;

/// <summary>
/// Ensembles over simulated-device models, whose runs take a set time and report what is running:
/// steps that do not depend on each other run at once, and <c>max_inflight_requests</c> bounds
/// what is inside the ensemble. Each simulated output is its input plus one.
/// </summary>
public sealed class EnsembleConcurrencyTests
{
    /// <summary>X feeds two models; neither reads the other's output.</summary>
    private const string Fork = """
        max_batch_size: 8
        input [ { name: "X" data_type: TYPE_FP32 dims: [ 4 ] } ]
        output [ { name: "LEFT" data_type: TYPE_FP32 dims: [ 4 ] }, { name: "RIGHT" data_type: TYPE_FP32 dims: [ 4 ] } ]
        ensemble_scheduling { step [
          { model_name: "sim_left" input_map { key: "INPUT0" value: "X" } output_map { key: "OUTPUT0" value: "LEFT" } },
          { model_name: "sim_right" input_map { key: "INPUT0" value: "X" } output_map { key: "OUTPUT0" value: "RIGHT" } }
        ] }
        """;

    [Fact]
    public async Task IndependentSteps_RunAtTheSameTime()
    {
        using var repository = new TemporaryRepository().AddEnsemble("fork", Fork);
        foreach (var name in new[] { "sim_left", "sim_right" })
        {
            new SimulatedModel(name) { Width = 4, MaxBatchSize = 8, RunMilliseconds = 1500, CopyGigabytesPerSecond = 1 }.WriteTo(repository.Path);
        }
        var backend = new SimulatedDeviceBackend();
        await using var server = await InMemoryFabrik.StartWithBackendsAsync(ServerOptions.Parse(["--model-repository", repository.Path]), backend);
        using var client = server.CreateHttpClient();

        var answer = InferAsync(client, "fork", [1, 2, 3, 4]);

        // Each run lasts 1.5 s: if the steps ran one after the other, both would never be running.
        Assert.True(await Eventually.HoldsAsync(() => backend.Instances.Count(instance => instance.Occupancy.Running == 1) == 2));
        var (status, body) = await answer;
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal([2f, 3f, 4f, 5f], Output(body, "LEFT"));
        Assert.Equal([2f, 3f, 4f, 5f], Output(body, "RIGHT"));
    }

    [Fact]
    public async Task MaxInflightRequests_BoundsTheRequestsInside()
    {
        const string Single = """
            max_batch_size: 8
            input [ { name: "X" data_type: TYPE_FP32 dims: [ 4 ] } ]
            output [ { name: "Y" data_type: TYPE_FP32 dims: [ 4 ] } ]
            ensemble_scheduling {
              max_inflight_requests: 2
              step [ { model_name: "sim" input_map { key: "INPUT0" value: "X" } output_map { key: "OUTPUT0" value: "Y" } } ]
            }
            """;
        using var repository = new TemporaryRepository().AddEnsemble("bounded", Single);
        new SimulatedModel("sim") { Width = 4, MaxBatchSize = 8, RunMilliseconds = 300, CopyGigabytesPerSecond = 1 }.WriteTo(repository.Path);
        var backend = new SimulatedDeviceBackend();
        await using var server = await InMemoryFabrik.StartWithBackendsAsync(ServerOptions.Parse(["--model-repository", repository.Path]), backend);
        using var client = server.CreateHttpClient();
        var executor = server.Server.Models.Resolve("bounded", null).Ensemble!;

        var answers = Enumerable.Range(0, 8).Select(k => InferAsync(client, "bounded", [k, k, k, k])).ToArray();

        Assert.True(await Eventually.HoldsAsync(() => executor.Waiting == 6));
        Assert.Equal(2, executor.Inside);
        var done = await Task.WhenAll(answers);
        for (var k = 0; k < done.Length; k++)
        {
            Assert.Equal(HttpStatusCode.OK, done[k].Status);
            Assert.Equal(Enumerable.Repeat(k + 1f, 4), Output(done[k].Body, "Y"));
        }
        // The requests reached the model two at a time at most, so no batch held more than two rows.
        var stats = JsonNode.Parse(await client.GetStringAsync("/v2/models/sim/stats"))!["model_stats"]![0]!;
        Assert.All(stats["batch_stats"]!.AsArray(), batch => Assert.InRange((int)batch!["batch_size"]!, 1, 2));
        Assert.Equal(8, (long)stats["inference_count"]!);
    }

    private static async Task<(HttpStatusCode Status, JsonNode Body)> InferAsync(HttpClient client, string model, float[] x)
    {
        var body = new JsonObject
        {
            ["inputs"] = new JsonArray(JsonTensors.Row("X", "FP32", x)),
        };
        using var response = await client.PostAsJsonAsync($"/v2/models/{model}/infer", body);
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!);
    }

    private static float[] Output(JsonNode body, string name) => JsonTensors.Output<float>(body, name);
}
