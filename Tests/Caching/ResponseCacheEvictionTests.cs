using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Fabrik.Tests.Observability;
using Fabrik.Tests.Support;
using Xunit;

namespace Fabrik.Tests.Caching;

/// <summary>
/// Eviction and size as a client sees them: a cache sized for two and a half of <c>mlp</c>'s
/// entries keeps the two most recently used, and reports exactly their bytes; a cache smaller than
/// one entry stores nothing. One entry's size is read from a first server's utilisation after one
/// response, so the test does not restate the key's layout. An unloaded version's entries leave
/// with it.
/// </summary>
public sealed class ResponseCacheEvictionTests : IDisposable
{
    private const long ProbeBytes = 1 << 20;
    private readonly TemporaryRepository _repository = new TemporaryRepository().Add("mlp", extraConfig: "response_cache { enable: true }");

    [Fact]
    public async Task LeastRecentlyUsed_IsEvictedFirst_AndTheSizeIsExact()
    {
        var entry = await EntryBytesAsync();
        var size = 2 * entry + entry / 2;
        await using var host = await InMemoryFabrik.StartAsync("--model-repository", _repository.Path, "--cache-config", $"local,size={size}");
        using var http = host.CreateHttpClient();

        // A and B fill it; A is used again, so C evicts B; A and C are used, so B evicts A.
        var executed = new List<long>();
        foreach (var input in new[] { 'A', 'B', 'A', 'C', 'A', 'C', 'B', 'C' })
        {
            var before = await CacheCounts.ReadAsync(http, "mlp");
            await PostAsync(http, input);
            executed.Add((await CacheCounts.ReadAsync(http, "mlp") - before).Executions);
        }

        Assert.Equal([1L, 1, 0, 1, 0, 0, 1, 0], executed);
        var families = await MetricsEndpointTests.ScrapeAsync(host.Server);
        Assert.Equal(2, Gauge(families, "nv_cache_num_entries"));
        Assert.Equal(2, Gauge(families, "nv_cache_num_evictions"));
        Assert.Equal(2 * entry, (long)Math.Round(Gauge(families, "nv_cache_util") * size));
    }

    [Fact]
    public async Task ResponseLargerThanTheCache_IsNotStored()
    {
        var entry = await EntryBytesAsync();
        await using var host = await InMemoryFabrik.StartAsync("--model-repository", _repository.Path, "--cache-config", $"local,size={entry - 1}");
        using var http = host.CreateHttpClient();
        var before = await CacheCounts.ReadAsync(http, "mlp");

        await PostAsync(http, 'A');
        await PostAsync(http, 'A');

        var after = await CacheCounts.ReadAsync(http, "mlp") - before;
        Assert.Equal((2L, 0L, 2L), (after.Executions, after.Hits, after.Misses));
        var families = await MetricsEndpointTests.ScrapeAsync(host.Server);
        Assert.Equal(0, Gauge(families, "nv_cache_num_entries"));
        Assert.Equal(0, Gauge(families, "nv_cache_util"));
    }

    [Fact]
    public async Task UnloadedVersion_TakesItsEntriesAlong_AndItsReloadStartsEmpty()
    {
        await using var host = await InMemoryFabrik.StartAsync(
            "--model-repository", _repository.Path, "--model-control-mode=explicit", "--load-model=mlp", "--cache-config", $"local,size={ProbeBytes}");
        using var http = host.CreateHttpClient();
        await PostAsync(http, 'A');
        await PostAsync(http, 'A');
        Assert.Equal(1, Gauge(await MetricsEndpointTests.ScrapeAsync(host.Server), "nv_cache_num_entries"));

        await PostOkAsync(http, "/v2/repository/models/mlp/unload");
        await Eventually.UntilAsync(async () => Gauge(await MetricsEndpointTests.ScrapeAsync(host.Server), "nv_cache_num_entries") == 0,
            "the unloaded version's entries to leave the cache");
        await PostOkAsync(http, "/v2/repository/models/mlp/load");
        await PostAsync(http, 'A');

        // The reloaded version's counters start at zero: its first request ran.
        var reloaded = await CacheCounts.ReadAsync(http, "mlp");
        Assert.Equal((1L, 0L, 1L), (reloaded.Executions, reloaded.Hits, reloaded.Misses));
    }

    public void Dispose() => _repository.Dispose();

    private static async Task PostOkAsync(HttpClient http, string path)
    {
        using var response = await http.PostAsync(path, null);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    /// <summary>The bytes one mlp entry takes, as a server with a large cache reports them.</summary>
    private async Task<long> EntryBytesAsync()
    {
        await using var probe = await InMemoryFabrik.StartAsync("--model-repository", _repository.Path, "--cache-config", $"local,size={ProbeBytes}");
        using var http = probe.CreateHttpClient();
        await PostAsync(http, 'A');
        var families = await MetricsEndpointTests.ScrapeAsync(probe.Server);
        Assert.Equal(1, Gauge(families, "nv_cache_num_entries"));
        var entry = (long)Math.Round(Gauge(families, "nv_cache_util") * ProbeBytes);
        // At least the input's 64 bytes of data (in the key) and the output's 16.
        Assert.InRange(entry, 80, 4096);
        return entry;
    }

    private static double Gauge(IReadOnlyDictionary<string, PrometheusFamily> families, string name) =>
        Assert.Single(MetricsEndpointTests.Family(families, name).Samples).Value;

    /// <summary>Infers on one of three fixed inputs, named by a letter.</summary>
    private static async Task PostAsync(HttpClient http, char input)
    {
        var data = new JsonArray([.. Enumerable.Range(0, 16).Select(i => (JsonNode)((input - 'A' + 1) * 0.25 + i * 0.0625))]);
        var body = new JsonObject
        {
            ["inputs"] = new JsonArray(new JsonObject { ["name"] = "INPUT0", ["datatype"] = "FP32", ["shape"] = new JsonArray(1, 16), ["data"] = data }),
        };
        using var response = await http.PostAsync("/v2/models/mlp/infer", JsonContent.Create(body));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}
