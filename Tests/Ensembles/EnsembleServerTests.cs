using System.Net;
using System.Text.Json.Nodes;
using Fabrik.Models;
using Xunit;
using static Fabrik.Tests.Ensembles.EnsembleConfigs;

namespace Fabrik.Tests.Ensembles;

/// <summary>
/// Ensembles of real ONNX models through the real server: answers against the steps' arithmetic
/// computed here and against the same steps called one by one, statistics, a client's mistake in
/// a step, the response cache at the top level, and every buffer given back.
/// </summary>
public sealed class EnsembleServerTests
{
    [Fact]
    public async Task Chain_AnswersAsTheStepsCalledOneByOne_AndTheArithmetic()
    {
        using var repository = new TemporaryRepository().Add("simple").AddEnsemble("chain", Chain);
        await using var server = await InMemoryFabrik.StartAsync("--model-repository", repository.Path);
        using var client = server.CreateHttpClient();
        int[] a = Values(1), b = Values(2);

        var (status, body) = await InferAsync(client, "chain", a, b);

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("chain", (string)body["model_name"]!);
        Assert.Equal("request-" + a[0], (string)body["id"]!);
        Assert.Equal(a.Select(x => 2 * x), Output(body, "TWICE_A"));
        Assert.Equal(b.Select(x => 2 * x), Output(body, "TWICE_B"));
        var (_, first) = await InferAsync(client, "simple", a, b, "INPUT0", "INPUT1");
        var (_, second) = await InferAsync(client, "simple", Output(first, "OUTPUT0"), Output(first, "OUTPUT1"), "INPUT0", "INPUT1");
        Assert.Equal(Output(second, "OUTPUT0"), Output(body, "TWICE_A"));
        Assert.Equal(Output(second, "OUTPUT1"), Output(body, "TWICE_B"));
    }

    [Fact]
    public async Task ConfigEndpoint_ReportsTheStepsAsTritonDoes_AndNoInstances()
    {
        using var repository = new TemporaryRepository().Add("simple").AddEnsemble("chain", Chain.Replace("ensemble_scheduling {", "ensemble_scheduling { max_inflight_requests: 5", StringComparison.Ordinal));
        await using var server = await InMemoryFabrik.StartAsync("--model-repository", repository.Path);
        using var client = server.CreateHttpClient();

        var config = JsonNode.Parse(await client.GetStringAsync("/v2/models/chain/config"))!;

        Assert.Equal("ensemble", (string)config["platform"]!);
        Assert.Empty(config["instance_group"]!.AsArray());
        var scheduling = config["ensemble_scheduling"]!;
        Assert.Equal(5, (int)scheduling["max_inflight_responses"]!);
        var steps = scheduling["step"]!.AsArray();
        Assert.Equal(["simple", "simple"], steps.Select(step => (string)step!["model_name"]!));
        Assert.Equal("-1", steps[0]!["model_version"]!.ToString());
        Assert.Equal("A", (string)steps[0]!["input_map"]!["INPUT0"]!);
        Assert.Equal("TWICE_B", (string)steps[1]!["output_map"]!["OUTPUT1"]!);
    }

    [Fact]
    public async Task Statistics_TheEnsembleCountsRequests_ItsModelCountsEachStep()
    {
        using var repository = new TemporaryRepository().Add("simple").AddEnsemble("chain", Chain);
        await using var server = await InMemoryFabrik.StartAsync("--model-repository", repository.Path);
        using var client = server.CreateHttpClient();

        var answers = await Task.WhenAll(Enumerable.Range(0, 12).Select(k => InferAsync(client, "chain", Values(k), Values(k + 1))));

        Assert.All(answers, answer => Assert.Equal(HttpStatusCode.OK, answer.Status));
        var chain = JsonNode.Parse(await client.GetStringAsync("/v2/models/chain/stats"))!["model_stats"]![0]!;
        var simple = JsonNode.Parse(await client.GetStringAsync("/v2/models/simple/stats"))!["model_stats"]![0]!;
        Assert.Equal(12, (long)chain["inference_stats"]!["success"]!["count"]!);
        Assert.Equal(12, (long)chain["inference_count"]!);
        Assert.Equal(0, (long)chain["execution_count"]!);
        Assert.Equal(24, (long)simple["inference_stats"]!["success"]!["count"]!);
        Assert.Equal(24, (long)simple["inference_count"]!);
    }

    [Fact]
    public async Task StepRefusesAShape_IsA400NamingTheStepAndTensor_AndNothingLeaks()
    {
        // A variable dimension passes the check at load; the request's 15 values do not fit simple's 16.
        using var repository = new TemporaryRepository().Add("simple")
            .AddEnsemble("chain", Chain.Replace("name: \"A\" data_type: TYPE_INT32 dims: [ 16 ]", "name: \"A\" data_type: TYPE_INT32 dims: [ -1 ]", StringComparison.Ordinal));
        var server = await InMemoryFabrik.StartAsync("--model-repository", repository.Path);
        using var client = server.CreateHttpClient();

        var (status, body) = await InferAsync(client, "chain", Values(1)[..15], Values(2));

        Assert.Equal(HttpStatusCode.BadRequest, status);
        var error = (string)body["error"]!;
        Assert.Contains("step 0 ('simple')", error, StringComparison.Ordinal);
        Assert.Contains("tensor 'A'", error, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await InferAsync(client, "chain", Values(1), Values(2))).Status);
        var pool = server.Server.TensorPool;
        await server.DisposeAsync();
        PoolLeaks.AssertNoneOutstanding(pool);
    }

    [Fact]
    public async Task ResponseCache_AtTheTopLevel_AHitRunsNoStep()
    {
        using var repository = new TemporaryRepository().Add("simple").AddEnsemble("chain", Chain + "\nresponse_cache { enable: true }");
        await using var server = await InMemoryFabrik.StartAsync("--model-repository", repository.Path, "--cache-config", "local,size=1048576");
        using var client = server.CreateHttpClient();

        var (_, miss) = await InferAsync(client, "chain", Values(3), Values(4));
        var executions = server.Server.Models.Resolve("simple", null).Statistics.ExecutionCount;
        var (status, hit) = await InferAsync(client, "chain", Values(3), Values(4));

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(Output(miss, "TWICE_A"), Output(hit, "TWICE_A"));
        Assert.Equal(executions, server.Server.Models.Resolve("simple", null).Statistics.ExecutionCount);
        Assert.Equal(1, server.Server.Models.Resolve("chain", null).Statistics.CacheHit.Count);
    }

    [Fact]
    public async Task ExplicitMode_LoadingTheEnsembleLoadsItsModels_UnloadingOneMakesItUnavailable_ReloadingReady()
    {
        using var repository = new TemporaryRepository().Add("simple").AddEnsemble("chain", Chain);
        await using var server = await InMemoryFabrik.StartAsync("--model-repository", repository.Path, "--model-control-mode=explicit");
        using var client = server.CreateHttpClient();
        var models = server.Server.Models;

        using (var load = await client.PostAsync("/v2/repository/models/chain/load", null))
        {
            Assert.Equal(HttpStatusCode.OK, load.StatusCode);
        }
        Assert.Equal(ModelState.Ready, models.Models["simple"].State);
        Assert.Equal(ModelState.Ready, models.Models["chain"].State);

        using (var unload = await client.PostAsync("/v2/repository/models/simple/unload", null))
        {
            Assert.Equal(HttpStatusCode.OK, unload.StatusCode);
        }
        Assert.Equal(ModelState.Unavailable, models.Models["chain"].State);
        Assert.Contains("step 0 ('simple')", models.Models["chain"].Reason, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await InferAsync(client, "chain", Values(1), Values(2))).Status);

        using (var reload = await client.PostAsync("/v2/repository/models/simple/load", null))
        {
            Assert.Equal(HttpStatusCode.OK, reload.StatusCode);
        }
        Assert.Equal(ModelState.Ready, models.Models["chain"].State);
        Assert.Equal(HttpStatusCode.OK, (await InferAsync(client, "chain", Values(1), Values(2))).Status);
    }

    [Fact]
    public async Task PollMode_FollowsItsModelLeavingAndComingBack()
    {
        using var repository = new TemporaryRepository().Add("simple").AddEnsemble("chain", Chain);
        await using var server = await InMemoryFabrik.StartAsync("--model-repository", repository.Path, "--model-control-mode=poll", "--repository-poll-secs=1");
        var models = server.Server.Models;
        Assert.Equal(ModelState.Ready, models.Models["chain"].State);
        var simple = Path.Combine(repository.Path, "simple");
        var aside = Path.Combine(repository.Path, "..", Path.GetFileName(repository.Path) + "-simple");

        Directory.Move(simple, aside);
        try
        {
            Assert.True(await Eventually.HoldsAsync(() => models.Models["chain"].State == ModelState.Unavailable));
            Assert.Contains("step 0 ('simple')", models.Models["chain"].Reason, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Move(aside, simple);
        }
        Assert.True(await Eventually.HoldsAsync(() => models.Models["chain"].State == ModelState.Ready));
        using var client = server.CreateHttpClient();
        Assert.Equal(HttpStatusCode.OK, (await InferAsync(client, "chain", Values(5), Values(6))).Status);
    }

    [Fact]
    public async Task UnloadingAComposingModelUnderLoad_LosesNoAcceptedRequest()
    {
        using var repository = new TemporaryRepository().Add("simple").AddEnsemble("chain", Chain);
        await using var server = await InMemoryFabrik.StartAsync("--model-repository", repository.Path, "--model-control-mode=explicit", "--load-model=chain");
        using var client = server.CreateHttpClient();
        using var stop = new CancellationTokenSource();
        var answers = new System.Collections.Concurrent.ConcurrentBag<(HttpStatusCode Status, JsonNode Body, int Seed)>();
        var senders = Enumerable.Range(0, 4).Select(sender => Task.Run(async () =>
        {
            for (var k = sender * 100_000; !stop.IsCancellationRequested; k++)
            {
                var (status, body) = await InferAsync(client, "chain", Values(k), Values(k + 1));
                answers.Add((status, body, k));
            }
        })).ToArray();
        Assert.True(await Eventually.HoldsAsync(() => answers.Count >= 20));

        using (var unload = await client.PostAsync("/v2/repository/models/simple/unload", null))
        {
            Assert.Equal(HttpStatusCode.OK, unload.StatusCode);
        }
        Assert.True(await Eventually.HoldsAsync(() => answers.Any(answer => answer.Status == HttpStatusCode.ServiceUnavailable)));
        await stop.CancelAsync();
        await Task.WhenAll(senders);

        // Every request was answered with its own values, or refused as unavailable before it ran.
        Assert.All(answers, answer => Assert.True(answer.Status is HttpStatusCode.OK or HttpStatusCode.ServiceUnavailable, $"{answer.Status}: {answer.Body}"));
        Assert.All(answers.Where(answer => answer.Status == HttpStatusCode.OK),
            answer => Assert.Equal(Values(answer.Seed).Select(x => 2 * x), Output(answer.Body, "TWICE_A")));
        Assert.Contains(answers, answer => answer.Status == HttpStatusCode.OK);
    }
}
