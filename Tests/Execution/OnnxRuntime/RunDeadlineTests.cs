using System.Net;
using System.Text;
using Xunit;

namespace Fabrik.Tests.Execution.OnnxRuntime;

/// <summary>max_run_time_ms, and the request's own timeout: an ONNX Runtime run past either is
/// stopped through RunOptions.Terminate and answered 504, and the instance serves the next run.</summary>
public sealed class RunDeadlineTests
{
    [Fact]
    public async Task EndlessRun_PastMaxRunTime_Is504AndTheInstanceServesTheNextRun()
    {
        using var repository = new TemporaryRepository().AddEndless("""
            parameters { key: "max_run_time_ms" value: { string_value: "300" } }
            """);
        // A separate process: should the run not stop, it dies with the process.
        await using var fabrik = await FabrikProcess.StartAsync("--model-repository", repository.Path, "--http-port", "0", "--metrics-port", "0", "--allow-grpc=false", "--exit-timeout-secs", "1");
        using var client = new HttpClient { BaseAddress = fabrik.Address, Timeout = TimeSpan.FromSeconds(60) };

        for (var run = 0; run < 2; run++)
        {
            // The second run shows the instance still works: a stuck terminate flag would fail it
            // at once as a 500, and a stuck session would never answer.
            using var response = await client.PostAsync("/v2/models/endless/infer", new StringContent("{\"inputs\":[]}", Encoding.UTF8, "application/json"));
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.GatewayTimeout, $"run {run}: {(int)response.StatusCode} {body}");
            Assert.Contains("max_run_time_ms of 300 ms", body, StringComparison.Ordinal);
        }
        using var ready = await client.GetAsync("/v2/models/endless/ready");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode); // a deadline is not a backend failure
    }

    /// <summary>The request parameter "timeout" (µs) covers the run as well as the queue: with no
    /// max_run_time_ms at all, an endless run is stopped once the request's timeout has passed.</summary>
    [Fact]
    public async Task EndlessRun_PastTheRequestsTimeout_Is504AndTheInstanceServesTheNextRun()
    {
        using var repository = new TemporaryRepository().AddEndless("""
            dynamic_batching { default_queue_policy { allow_timeout_override: true } }
            """);
        await using var fabrik = await FabrikProcess.StartAsync("--model-repository", repository.Path, "--http-port", "0", "--metrics-port", "0", "--allow-grpc=false", "--exit-timeout-secs", "1");
        using var client = new HttpClient { BaseAddress = fabrik.Address, Timeout = TimeSpan.FromSeconds(60) };

        foreach (var timeoutMicroseconds in new[] { 300_000, 600_000 })
        {
            var request = "{\"inputs\":[],\"parameters\":{\"timeout\":" + timeoutMicroseconds + "}}";
            using var response = await client.PostAsync("/v2/models/endless/infer", new StringContent(request, Encoding.UTF8, "application/json"));
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.GatewayTimeout, $"timeout {timeoutMicroseconds} µs: {(int)response.StatusCode} {body}");
            Assert.Contains("the request's timeout passed during the run", body, StringComparison.Ordinal);
        }
        using var ready = await client.GetAsync("/v2/models/endless/ready");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
    }
}
