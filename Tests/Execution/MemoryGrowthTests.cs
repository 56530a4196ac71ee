using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Xunit;
using Xunit.Abstractions;

namespace Fabrik.Tests.Execution;

/// <summary>
/// No memory growth: the resident set of a real fabrik process, after warm-up, stays within a
/// small bound across 10,000 inferences on each backend. A separate process, so that nothing else
/// in the test run shares the measurement.
/// </summary>
public sealed class MemoryGrowthTests(ITestOutputHelper output)
{
    private const long BoundBytes = 24L * 1024 * 1024;

    [Theory]
    [InlineData("mlp")]
    [InlineData("mlp_torch")]
    public async Task Infer_10000Requests_ResidentMemoryStaysFlat(string model)
    {
        using var repository = new TemporaryRepository().Add(model);
        // gen0 capped at 16 MB: the server GC without DATAS otherwise sizes gen0 from the cache and
        // takes many thousands of requests to fill it once, which reads as growth here.
        var gen0Cap = new Dictionary<string, string> { ["DOTNET_GCgen0MaxBudget"] = "0x1000000" };
        await using var fabrik = await FabrikProcess.StartAsync(gen0Cap, "--model-repository", repository.Path, "--http-port", "0", "--metrics-port", "0", "--allow-grpc=false");
        using var client = new HttpClient { BaseAddress = fabrik.Address };
        var sample = Samples.Sample(model, 1);
        var body = new JsonObject { ["inputs"] = sample["inputs"]!.DeepClone() }.ToJsonString();

        // Warm-up (JIT tiers, pools, arenas) and a first 10,000; growth is measured over the
        // second 10,000, when a leak would still grow and a filled gen0 would not.
        await RunAsync(client, model, body, 2_000);
        await RunAsync(client, model, body, 10_000);
        var before = ResidentBytes(fabrik.Process.Id);
        await RunAsync(client, model, body, 10_000);
        var after = ResidentBytes(fabrik.Process.Id);

        output.WriteLine($"{model}: RSS {before / 1048576.0:F1} MB after warm-up, {after / 1048576.0:F1} MB after 10,000 more inferences ({(after - before) / 1048576.0:+0.0;-0.0} MB)");
        Assert.True(after - before < BoundBytes, $"RSS grew by {(after - before) / 1048576.0:F1} MB over 10,000 inferences");
    }

    private static async Task RunAsync(HttpClient client, string model, string body, int count)
    {
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, 8).Select(async _ =>
        {
            while (Interlocked.Increment(ref next) < count)
            {
                using var response = await client.PostAsync($"/v2/models/{model}/infer", new StringContent(body, Encoding.UTF8, "application/json"));
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }
        }));
    }

    /// <summary>VmRSS of a process, from /proc.</summary>
    private static long ResidentBytes(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line["VmRSS:".Length..].Replace("kB", "", StringComparison.Ordinal).Trim(), CultureInfo.InvariantCulture) * 1024;
    }
}
