using System.Net;
using System.Net.Http.Headers;
using Fabrik.Observability.Metrics;
using Fabrik.Tests.Support;
using Xunit;

namespace Fabrik.Tests.Tenancy;

/// <summary>
/// The tenant metrics carry a tenant label bounded by the key file, and thousands of distinct
/// unknown keys add no series, no tenants and no memory. Alone in its collection, run after the
/// parallel ones, so that the heap it measures is its own server's.
/// </summary>
[Collection(TenantMemoryCollection.Name)]
public sealed class TenantMetricsTests
{
    [Fact]
    public async Task Metrics_CarryTheDeclaredTenants_AndThousandsOfUnknownKeysGrowNeitherSeriesNorMemory()
    {
        await using var host = await TenantHost.StartAsync(TenantUsageTests.Repository(), TenantUsageTests.Keys);
        await TenantUsageTests.SendTrafficAsync(host);
        using var metrics = new HttpClient { BaseAddress = host.Server.Server.MetricsAddress };
        metrics.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", TenantUsageTests.AdminKey);
        var families = PrometheusText.Parse(await metrics.GetStringAsync("/metrics"));
        Assert.All(TenantMetrics.Names, name => Assert.True(families.ContainsKey(name), $"{name} is not exported"));
        double Value(string family, string tenant, string model) =>
            families[family].Samples.Single(sample => sample.Labels["tenant"] == tenant && sample.Labels["model"] == model).Value;
        Assert.Equal(5, Value("fabrik_tenant_request_success", "acme", "simple"));
        Assert.Equal(12, Value("fabrik_tenant_inference_count", "research", "simple"));
        Assert.Equal(1, Value("fabrik_tenant_request_failure", "research", "mlp"));
        Assert.Equal(1, Value("fabrik_tenant_request_success", "undeclared", "simple"));
        var series = SeriesCount(families);
        var tenants = host.Tenants.All.Count();

        // Thousands of distinct unknown keys: each is refused, and nothing is kept for it. The
        // heap is compared between two rounds of 3000, so that what is bounded but not yet full
        // after the first (log queues, pools) does not count as growth.
        async Task<long> RoundAsync(int round)
        {
            for (var i = 0; i < 3000; i++)
            {
                using var refused = await host.InferAsync($"unknown-{round}-{i:D6}-{Guid.NewGuid():N}");
                Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            }
            GC.Collect();
            GC.WaitForPendingFinalizers();
            return GC.GetTotalMemory(forceFullCollection: true);
        }
        var before = await RoundAsync(1);
        var after = await RoundAsync(2);
        Assert.True(after - before < 2 << 20, $"the managed heap grew by {(after - before) >> 10} KiB over 3000 more unknown keys");
        Assert.Equal(tenants, host.Tenants.All.Count());
        Assert.Equal(series, SeriesCount(PrometheusText.Parse(await metrics.GetStringAsync("/metrics"))));
    }

    private static int SeriesCount(IReadOnlyDictionary<string, PrometheusFamily> families) =>
        families.Where(family => family.Key.StartsWith("fabrik_tenant_", StringComparison.Ordinal)).Sum(family => family.Value.Samples.Count);
}
