using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Tests.Support;
using Xunit;

namespace Fabrik.Tests.Observability;

/// <summary>
/// Each --metrics-config key Triton documents (counter_latencies, histogram_latencies,
/// summary_latencies, summary_quantiles) starts the server and exports what it turns on under
/// Triton's name, type, help text and labels, with the counts the requests sent imply. The
/// durations are bounded by what the client measured around each request, which contains the
/// server's time.
/// </summary>
public sealed class MetricsConfigTests : IDisposable
{
    private const string FirstResponse = "nv_inference_first_response_histogram_ms";
    private readonly TemporaryRepository _repository = new TemporaryRepository().Add("simple").Add("mlp");

    public void Dispose() => _repository.Dispose();

    [Fact]
    public async Task HistogramLatencies_ExportsTritonsFirstResponseHistogram_OneObservationPerRequest()
    {
        await using var host = await InMemoryFabrik.StartAsync("--model-repository", _repository.Path, "--metrics-config", "histogram_latencies=true");
        var simple = await InferAsync(host, "simple", 3);
        var mlp = await InferAsync(host, "mlp", 2);

        var family = MetricsEndpointTests.Family(await MetricsEndpointTests.ScrapeAsync(host.Server), FirstResponse);
        Assert.Equal(("histogram", "Duration from request to first response in milliseconds"), (family.Type, family.Help));
        foreach (var (model, durations) in new[] { ("simple", simple), ("mlp", mlp) })
        {
            var series = family.Samples.Where(s => s.Labels["model"] == model).ToList();
            Assert.All(series, s => Assert.Equal("1", s.Labels["version"]));
            Assert.All(series.Where(s => s.Name != FirstResponse + "_bucket"), s => Assert.Equal(["model", "version"], s.Labels.Keys.Order()));
            // Triton's default buckets, in milliseconds.
            Assert.Equal(["100", "500", "2000", "5000", "+Inf"], series.Where(s => s.Name == FirstResponse + "_bucket").Select(s => s.Labels["le"]));
            Assert.Equal(durations.Count, Value(series, "_count"));
            // The server's time to respond lies within what the client measured around the request.
            Assert.InRange(Value(series, "_sum"), 0.001 * durations.Count, durations.Sum());
            foreach (var bound in new[] { 100, 500, 2000, 5000 })
            {
                var bucket = series.Single(s => s.Labels.GetValueOrDefault("le") == bound.ToString(CultureInfo.InvariantCulture)).Value;
                Assert.InRange(bucket, durations.Count(d => d <= bound), durations.Count);
            }
        }
    }

    [Fact]
    public async Task HistogramLatencies_Off_ExportsNoFirstResponseHistogram()
    {
        await using var host = await InMemoryFabrik.StartAsync("--model-repository", _repository.Path, "--metrics-config", "histogram_latencies=false");
        await InferAsync(host, "simple", 1);
        Assert.DoesNotContain(FirstResponse, (await MetricsEndpointTests.ScrapeAsync(host.Server)).Keys);
    }

    [Fact]
    public async Task SummaryLatencies_ExportTritonsFiveSummaries_WithTheQuantilesAsked()
    {
        await using var host = await InMemoryFabrik.StartAsync("--model-repository", _repository.Path,
            "--metrics-config", "summary_latencies=true", "--metrics-config", "summary_quantiles=0.9:0.01,0.5:0.05,0.9:0.001");
        var durations = await InferAsync(host, "simple", 4);

        var families = await MetricsEndpointTests.ScrapeAsync(host.Server);
        foreach (var name in new[] { "nv_inference_request_summary_us", "nv_inference_queue_summary_us", "nv_inference_compute_input_summary_us",
                     "nv_inference_compute_infer_summary_us", "nv_inference_compute_output_summary_us" })
        {
            var family = MetricsEndpointTests.Family(families, name);
            Assert.Equal("summary", family.Type);
            var series = family.Samples.Where(s => s.Labels["model"] == "simple").ToList();
            Assert.Equal(4, Value(series, "_count"));
            Assert.Equal(["0.5", "0.9"], series.Where(s => s.Name == name).Select(s => s.Labels["quantile"]));
            Assert.All(series.Where(s => s.Name != name), s => Assert.Equal(["model", "version"], s.Labels.Keys.Order()));
            Assert.InRange(Value(series, "_sum"), 0, durations.Sum() * 1000);
        }
        Assert.InRange(Value(MetricsEndpointTests.Family(families, "nv_inference_request_summary_us").Samples.Where(s => s.Labels["model"] == "simple").ToList(), "_sum"),
            1, durations.Sum() * 1000);
    }

    [Fact]
    public async Task CounterLatenciesFalse_LeavesOutTheDurationCounters_AndKeepsTheCounts()
    {
        await using var host = await InMemoryFabrik.StartAsync("--model-repository", _repository.Path, "--metrics-config", "counter_latencies=false");
        await InferAsync(host, "simple", 2);

        var families = await MetricsEndpointTests.ScrapeAsync(host.Server);
        Assert.DoesNotContain(families.Keys, name => name.EndsWith("_duration_us", StringComparison.Ordinal));
        Assert.Equal(2, MetricsEndpointTests.Value(MetricsEndpointTests.Family(families, "nv_inference_request_success"), "nv_inference_request_success", ("model", "simple")));
    }

    [Fact]
    public async Task UnknownKeyAndUnreadValue_StartTheServerWithDefaultMetrics()
    {
        await using var host = await InMemoryFabrik.StartAsync("--model-repository", _repository.Path,
            "--metrics-config", "summary_max_age=60", "--metrics-config", "histogram_latencies=on");
        await InferAsync(host, "simple", 1);

        var families = await MetricsEndpointTests.ScrapeAsync(host.Server);
        Assert.DoesNotContain(FirstResponse, families.Keys);
        Assert.Contains("nv_inference_request_duration_us", families.Keys);
        Assert.Equal(1, MetricsEndpointTests.Value(MetricsEndpointTests.Family(families, "nv_inference_request_success"), "nv_inference_request_success", ("model", "simple")));
    }

    /// <summary>Sends <paramref name="count"/> requests one after another; returns how long each
    /// took as the client saw it, in milliseconds.</summary>
    private static async Task<List<double>> InferAsync(InMemoryFabrik host, string model, int count)
    {
        using var client = host.CreateHttpClient();
        var body = new JsonObject { ["inputs"] = Samples.Sample(model, 0)["inputs"]!.DeepClone() }.ToJsonString();
        var durations = new List<double>();
        for (var i = 0; i < count; i++)
        {
            var started = Stopwatch.GetTimestamp();
            using var response = await client.PostAsync($"/v2/models/{model}/infer", new StringContent(body, Encoding.UTF8, "application/json"));
            durations.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        return durations;
    }

    private static double Value(List<PrometheusSample> series, string suffix) =>
        series.Single(s => s.Name.EndsWith(suffix, StringComparison.Ordinal)).Value;
}
