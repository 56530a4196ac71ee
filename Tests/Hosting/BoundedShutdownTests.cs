using System.Diagnostics;
using System.Text;
using Fabrik.Hosting;
using Xunit;

namespace Fabrik.Tests.Hosting;

/// <summary>Shutdown is bounded even when a model run never returns: the real fabrik process
/// exits within --exit-timeout-secs plus <see cref="FabrikServer.UnloadGraceSeconds"/>.</summary>
public sealed class BoundedShutdownTests
{
    [Fact]
    public async Task Sigterm_WhileARunNeverReturns_ExitsWithinTheExitTimeoutPlusGrace()
    {
        using var repository = new TemporaryRepository().AddEndless();
        await using var fabrik = await FabrikProcess.StartAsync("--model-repository", repository.Path, "--http-port", "0", "--metrics-port", "0", "--allow-grpc=false", "--exit-timeout-secs", "1");
        using var client = new HttpClient { BaseAddress = fabrik.Address, Timeout = Timeout.InfiniteTimeSpan };
        var hung = client.PostAsync("/v2/models/endless/infer", new StringContent("{\"inputs\":[]}", Encoding.UTF8, "application/json"));
        // The run has started once the request has left the queue (the statistics count it then).
        await Eventually.UntilAsync(async () => hung.IsCompleted || await ModelProgress.RunsStartedAsync(client, "endless") > 0, "the endless run to start");
        if (hung.IsCompleted)
        {
            using var answer = await hung;
            Assert.Fail($"the endless run answered {(int)answer.StatusCode}: {await answer.Content.ReadAsStringAsync()}");
        }

        var stopwatch = Stopwatch.StartNew();
        await fabrik.TerminateAsync();
        var exited = await Task.WhenAny(fabrik.Process.WaitForExitAsync(), Task.Delay(TimeSpan.FromSeconds(60))) is var first
            && first != null && fabrik.Process.HasExited;

        Assert.True(exited, "fabrik was still running 60 s after SIGTERM with --exit-timeout-secs 1");
        // Generous against a noisy machine; without the bound the process never exits at all.
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(1 + FabrikServer.UnloadGraceSeconds + 20), $"exit took {stopwatch.Elapsed}");
        Assert.Contains(fabrik.Log, line => line.Contains("Shutdown gave up", StringComparison.Ordinal));
    }
}
