using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Execution;
using Fabrik.Hosting;
using Fabrik.Models;
using Xunit;

namespace Fabrik.Tests.Models;

/// <summary>Readiness that follows the backend, and poll mode that neither stops nor retries a
/// broken model on every poll.</summary>
public sealed class ModelHealthTests
{
    [Fact]
    public async Task BackendFailingEveryRun_VersionTurnsNotReadyAfterTheThreshold_AndRecoversOnReload()
    {
        // mlp_torch with its input declared FP64: every request passes validation and fails inside
        // libtorch (double rows against float weights), the backend's failure and not the
        // request's. (A request whose shape the model cannot use is the request's failure: 400,
        // not counted; see TorchScriptDataRefusalTests.) Fixing the file and reloading recovers.
        using var repository = new TemporaryRepository().Add("mlp_torch", "fragile").Add("simple");
        var config = Path.Combine(repository.Path, "fragile", "config.pbtxt");
        const string Fragile = """
            name: "fragile"
            platform: "pytorch_libtorch"
            max_batch_size: 8
            input [ { name: "INPUT__0" data_type: TYPE_FP64 dims: [ 16 ] } ]
            output [ { name: "OUTPUT__0" data_type: TYPE_FP32 dims: [ 4 ] } ]
            parameters { key: "health_failure_threshold" value: { string_value: "3" } }
            """;
        File.WriteAllText(config, Fragile);
        await using var server = await FabrikServer.StartAsync(ServerOptions.Parse(
            ["--model-repository", repository.Path, "--http-port", "0", "--metrics-port", "0", "--allow-grpc=false", "--model-control-mode=explicit", "--load-model=*"]));
        using var client = new HttpClient { BaseAddress = server.HttpAddress };

        for (var failure = 1; failure <= 3; failure++)
        {
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/v2/models/fragile/ready")).StatusCode);
            using var failed = await InferAsync(client, "FP64");
            Assert.Equal(HttpStatusCode.InternalServerError, failed.StatusCode);
        }

        Assert.NotEqual(HttpStatusCode.OK, (await client.GetAsync("/v2/models/fragile/ready")).StatusCode);
        Assert.NotEqual(HttpStatusCode.OK, (await client.GetAsync("/v2/health/ready")).StatusCode); // strict readiness
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/v2/models/simple/ready")).StatusCode);
        var reason = (string)(await IndexAsync(client))["fragile"]["reason"]!;
        Assert.Contains("version 1: not ready after 3 consecutive backend failures (threshold 3)", reason, StringComparison.Ordinal);

        File.WriteAllText(config, Fragile.Replace("TYPE_FP64", "TYPE_FP32", StringComparison.Ordinal));
        using (var reload = await client.PostAsync("/v2/repository/models/fragile/load", null))
        {
            Assert.Equal(HttpStatusCode.OK, reload.StatusCode);
        }
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/v2/models/fragile/ready")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/v2/health/ready")).StatusCode);
        Assert.Null((await IndexAsync(client))["fragile"]["reason"]);
        using var succeeded = await InferAsync(client, "FP32");
        Assert.Equal(HttpStatusCode.OK, succeeded.StatusCode);
    }

    [Fact]
    public void Threshold_DefaultsToFiveAndInvalidRequestsNeverCount()
    {
        Assert.Equal(5, BackendHealth.DefaultThreshold);
        var health = new BackendHealth(new Fabrik.Configuration.ModelConfig { Name = "m", Platform = "onnxruntime_onnx" });
        Assert.Equal(BackendHealth.DefaultThreshold, health.Threshold);
        for (var i = 0; i < 4; i++)
        {
            health.RecordFailure("boom");
        }
        Assert.True(health.IsHealthy);
        health.RecordFailure("boom");
        Assert.False(health.IsHealthy);
    }

    [Fact]
    public async Task Poll_NewModelThatFailsToLoad_IsNotReloadedUntilItsFilesChange()
    {
        using var repository = new TemporaryRepository().Add("simple");
        await using var server = await FabrikServer.StartAsync(ServerOptions.Parse(
            ["--model-repository", repository.Path, "--http-port", "0", "--metrics-port", "0", "--allow-grpc=false", "--model-control-mode=poll", "--repository-poll-secs=3600"]));
        repository.Add("simple", "broken");
        var config = Path.Combine(repository.Path, "broken", "config.pbtxt");
        var valid = File.ReadAllText(config);
        File.WriteAllText(config, "max_batch_size: {");

        await server.Poller.PollOnceAsync(default);
        var failed = server.Models.Models["broken"];
        Assert.Equal(ModelState.Unavailable, failed.State);
        await server.Poller.PollOnceAsync(default);

        Assert.Same(failed, server.Models.Models["broken"]); // not loaded again
        File.WriteAllText(config, valid);
        File.SetLastWriteTimeUtc(config, DateTime.UtcNow.AddMinutes(1));
        await server.Poller.PollOnceAsync(default);
        Assert.Equal(ModelState.Ready, server.Models.Models["broken"].State);
    }

    private static async Task<HttpResponseMessage> InferAsync(HttpClient client, string datatype)
    {
        var body = new JsonObject
        {
            ["inputs"] = new JsonArray(new JsonObject
            {
                ["name"] = "INPUT__0", ["datatype"] = datatype, ["shape"] = new JsonArray(1, 16),
                ["data"] = new JsonArray(Enumerable.Repeat(0.5, 16).Select(v => (JsonNode)v).ToArray()),
            }),
        };
        return await client.PostAsync("/v2/models/fragile/infer", new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"));
    }

    private static async Task<Dictionary<string, JsonNode>> IndexAsync(HttpClient client)
    {
        using var response = await client.PostAsync("/v2/repository/index", new StringContent("{}", Encoding.UTF8, "application/json"));
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsArray().ToDictionary(entry => (string)entry!["name"]!, entry => entry!);
    }
}
