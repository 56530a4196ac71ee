using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Fabrik.Hosting;
using Fabrik.Observability.Metrics;
using Xunit;
using Xunit.Abstractions;

namespace Fabrik.Tests.Observability;

/// <summary>docs/grafana/fabrik.json queries only metrics the server exports.</summary>
public sealed partial class GrafanaDashboardTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Dashboard_EveryMetricItsQueriesUse_IsExported()
    {
        var dashboard = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(RepositoryLayout.Root, "docs", "grafana", "fabrik.json")))!;
        var queries = Strings(dashboard).Where(text => text.Key is "expr" or "definition").Select(text => text.Value).ToList();
        Assert.NotEmpty(queries);
        var used = queries.SelectMany(query => MetricName().Matches(query).Select(match => match.Value)).ToHashSet(StringComparer.Ordinal);

        await using var server = await FabrikServer.StartAsync(ServerOptions.Parse(
            ["--model-repository", RepositoryLayout.Models, "--http-port", "0", "--metrics-port", "0", "--allow-grpc=false"]));
        var families = await MetricsEndpointTests.ScrapeAsync(server);
        var gpuAbsent = !families.ContainsKey("nv_gpu_utilization");

        foreach (var name in used.Order(StringComparer.Ordinal))
        {
            if (gpuAbsent && HostMetrics.GpuMetricNames.Contains(name))
            {
                output.WriteLine($"{name}: a GPU metric, not exported on this host (no GPU)");
                continue;
            }
            if (name.StartsWith("fabrik_tenant_", StringComparison.Ordinal))
            {
                // Exported only with --auth-keys; the tenant tests scrape every one of them.
                Assert.Contains(name, TenantMetrics.Names);
                output.WriteLine($"{name}: a tenant metric, exported with --auth-keys");
                continue;
            }
            var family = families.GetValueOrDefault(name) ?? families.GetValueOrDefault(SeriesSuffix().Replace(name, ""));
            Assert.True(family is not null && (family.Name == name || family.Type is "histogram" or "summary"),
                $"the dashboard queries {name}, which the server does not export");
            output.WriteLine($"{name}: exported as {family!.Type} {family.Name}");
        }
        Assert.Contains("fabrik_inference_request_duration_seconds_bucket", used);
        Assert.Contains("nv_gpu_utilization", used);
        Assert.Contains("fabrik_tenant_compute_duration_us", used);
    }

    private static IEnumerable<KeyValuePair<string, string>> Strings(JsonNode? node) => node switch
    {
        JsonObject obj => obj.SelectMany(property => property.Value is JsonValue value && value.TryGetValue<string>(out var text)
            ? [new KeyValuePair<string, string>(property.Key, text)]
            : Strings(property.Value)),
        JsonArray array => array.SelectMany(Strings),
        _ => [],
    };

    [GeneratedRegex(@"\b(?:nv|fabrik)_[a-z0-9_]+\b")]
    private static partial Regex MetricName();

    [GeneratedRegex(@"_(?:bucket|sum|count)$")]
    private static partial Regex SeriesSuffix();
}
