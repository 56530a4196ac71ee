using System.Net;
using System.Text;
using Xunit;

namespace Fabrik.Tests.Hosting;

/// <summary>Liveness tells the truth: a run wedged past --watchdog-secs turns it false, so an
/// orchestrator restarts the process.</summary>
public sealed class WatchdogTests
{
    [Fact]
    public async Task RunWedgedPastTheWatchdog_TurnsLivenessFalse()
    {
        using var repository = new TemporaryRepository().Add("simple").AddEndless();
        // A separate process: the wedged run dies with it.
        await using var fabrik = await FabrikProcess.StartAsync("--model-repository", repository.Path, "--http-port", "0", "--metrics-port", "0", "--allow-grpc=false",
            "--watchdog-secs", "1", "--exit-timeout-secs", "1");
        using var client = new HttpClient { BaseAddress = fabrik.Address, Timeout = TimeSpan.FromSeconds(10) };
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/v2/health/live")).StatusCode);

        var wedged = client.PostAsync("/v2/models/endless/infer", new StringContent("{\"inputs\":[]}", Encoding.UTF8, "application/json"));
        var live = HttpStatusCode.OK;
        for (var attempt = 0; attempt < 300 && live == HttpStatusCode.OK; attempt++)
        {
            await Task.Delay(100);
            using var probe = await client.GetAsync("/v2/health/live");
            live = probe.StatusCode;
        }

        Assert.NotEqual(HttpStatusCode.OK, live);
        Assert.False(wedged.IsCompleted);
    }
}
