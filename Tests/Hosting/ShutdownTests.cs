using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Hosting;
using Xunit;
using Xunit.Abstractions;

namespace Fabrik.Tests.Hosting;

/// <summary>SIGTERM under load, against the real fabrik process: every request accepted before
/// the signal completes, later ones are refused, and the process exits on its own.</summary>
public sealed class ShutdownTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Sigterm_UnderLoad_CompletesEveryAcceptedRequestThenExits()
    {
        // A 200 ms batching delay keeps requests queued when the signal arrives.
        using var repository = new TemporaryRepository().Add("simple", extraConfig: "dynamic_batching { max_queue_delay_microseconds: 200000 }");
        await using var fabrik = await FabrikProcess.StartAsync("--model-repository", repository.Path, "--http-port", "0", "--metrics-port", "0", "--allow-grpc=false", "--exit-timeout-secs", "20");
        using var client = new HttpClient { BaseAddress = fabrik.Address, Timeout = TimeSpan.FromSeconds(30) };
        var body = new JsonObject { ["inputs"] = Samples.Sample("simple", 0)["inputs"]!.DeepClone() }.ToJsonString();
        Task<HttpResponseMessage>[] Send() => Enumerable.Range(0, 20)
            .Select(_ => client.PostAsync("/v2/models/simple/infer", new StringContent(body, Encoding.UTF8, "application/json")))
            .ToArray();

        // Warm up: open the 20 connections and compile the request path.
        foreach (var response in await Task.WhenAll(Send()))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            response.Dispose();
        }

        // 20 requests in flight, queued behind the 200 ms batching delay when the signal comes: the
        // signal goes once the server holds all 20 (runs started, read first, plus still queued;
        // a request moving between the two reads is missed, never counted twice).
        var startedBefore = await ModelProgress.RunsStartedAsync(client, "simple");
        var accepted = Send();
        await Eventually.UntilAsync(
            async () => await ModelProgress.RunsStartedAsync(client, "simple") - startedBefore + await ModelProgress.PendingAsync(fabrik.MetricsAddress!, "simple") >= accepted.Length,
            "the server to hold the 20 requests");
        await fabrik.TerminateAsync();

        var statuses = new List<HttpStatusCode>();
        foreach (var request in accepted)
        {
            using var response = await request;
            statuses.Add(response.StatusCode);
        }
        output.WriteLine("statuses: " + string.Join(",", statuses.Select(s => (int)s)));
        Assert.All(statuses, status => Assert.Equal(HttpStatusCode.OK, status));

        await fabrik.Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(0, fabrik.Process.ExitCode);
    }

    [Fact]
    public async Task BeginShutdown_TurnsReadinessFalseAndRefusesNewRequestsWith503()
    {
        await using var server = await FabrikServer.StartAsync(ServerOptions.Parse(["--model-repository", RepositoryLayout.Models, "--http-port", "0", "--metrics-port", "0", "--allow-grpc=false"]));
        using var client = new HttpClient { BaseAddress = server.HttpAddress };
        var body = new JsonObject { ["inputs"] = Samples.Sample("simple", 0)["inputs"]!.DeepClone() }.ToJsonString();
        using (var before = await client.GetAsync("/v2/health/ready"))
        {
            Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        }

        server.Models.BeginShutdown(); // what SIGTERM does first

        using var ready = await client.GetAsync("/v2/health/ready");
        Assert.Equal(HttpStatusCode.BadRequest, ready.StatusCode);
        using var live = await client.GetAsync("/v2/health/live");
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        using var refused = await client.PostAsync("/v2/models/simple/infer", new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.Contains("shutting down", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }
}
