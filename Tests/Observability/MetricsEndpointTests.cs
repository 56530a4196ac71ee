using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Hosting;
using Fabrik.Tests.Support;
using Xunit;

namespace Fabrik.Tests.Observability;

/// <summary>The metrics port through the real server: scraped over HTTP and parsed by the strict
/// exposition parser (and the Prometheus Python client's, where it is installed), never by the
/// exporter's own code.</summary>
public sealed class MetricsEndpointTests
{
    /// <summary>Triton's names, types and help text (src/metrics.cc), the contract dashboards rely on.</summary>
    public static readonly TheoryData<string, string, string> TritonFamilies = new()
    {
        { "nv_inference_request_success", "counter", "Number of successful inference requests, all batch sizes" },
        { "nv_inference_request_failure", "counter", "Number of failed inference requests, all batch sizes" },
        { "nv_inference_count", "counter", "Number of inferences performed (does not include cached requests)" },
        { "nv_inference_exec_count", "counter", "Number of model executions performed (does not include cached requests)" },
        { "nv_inference_request_duration_us", "counter", "Cumulative inference request duration in microseconds (includes cached requests)" },
        { "nv_inference_queue_duration_us", "counter", "Cumulative inference queuing duration in microseconds (includes cached requests)" },
        { "nv_inference_compute_input_duration_us", "counter", "Cumulative compute input duration in microseconds (does not include cached requests)" },
        { "nv_inference_compute_infer_duration_us", "counter", "Cumulative compute inference duration in microseconds (does not include cached requests)" },
        { "nv_inference_compute_output_duration_us", "counter", "Cumulative inference compute output duration in microseconds (does not include cached requests)" },
        { "nv_inference_pending_request_count", "gauge", "Instantaneous number of pending requests awaiting execution per-model." },
        { "nv_inference_request_summary_us", "summary", "Summary of inference request duration in microseconds (includes cached requests)" },
        { "nv_inference_queue_summary_us", "summary", "Summary of inference queuing duration in microseconds (includes cached requests)" },
        { "nv_inference_compute_input_summary_us", "summary", "Cumulative compute input duration in microseconds (does not include cached requests)" },
        { "nv_inference_compute_infer_summary_us", "summary", "Cumulative compute inference duration in microseconds (does not include cached requests)" },
        { "nv_inference_compute_output_summary_us", "summary", "Cumulative inference compute output duration in microseconds (does not include cached requests)" },
        { "nv_cpu_utilization", "gauge", "CPU utilization rate [0.0 - 1.0]" },
        { "nv_cpu_memory_total_bytes", "gauge", "CPU total memory (RAM), in bytes" },
        { "nv_cpu_memory_used_bytes", "gauge", "CPU used memory (RAM), in bytes" },
        { "nv_pinned_memory_pool_total_bytes", "gauge", "Pinned memory pool total memory size, in bytes" },
        { "nv_pinned_memory_pool_used_bytes", "gauge", "Pinned memory pool used memory size, in bytes" },
    };

    [Fact]
    public async Task Metrics_SuccessesFailuresAndABatch_MoveEachCounterExactly()
    {
        // A 60 s batching delay on a manual clock: requests wait until the test moves the clock,
        // so the batch that forms is known. max_queue_size 3 makes the fourth request REJECTED.
        using var repository = new TemporaryRepository()
            .Add("simple", "batched", "dynamic_batching { max_queue_delay_microseconds: 60000000 default_queue_policy { max_queue_size: 3 } }");
        var time = new ManualTimeProvider();
        await using var server = await FabrikServer.StartAsync(
            ServerOptions.Parse(["--model-repository", repository.Path, "--http-port", "0", "--metrics-port", "0", "--allow-grpc=false"]), time);
        using var client = new HttpClient { BaseAddress = server.HttpAddress };
        var scheduler = server.Models.Resolve("batched", null).Scheduler;
        Task<HttpResponseMessage> Post(int rows, int elements = 16, CancellationToken cancellation = default)
        {
            var data = string.Join(",", Enumerable.Range(0, rows * elements));
            var body = $$"""{"inputs":[{"name":"INPUT0","datatype":"INT32","shape":[{{rows}},{{elements}}],"data":[{{data}}]},{"name":"INPUT1","datatype":"INT32","shape":[{{rows}},{{elements}}],"data":[{{data}}]}]}""";
            return client.PostAsync("/v2/models/batched/infer", new StringContent(body, Encoding.UTF8, "application/json"), cancellation);
        }

        // One client that gives up while queued: CANCELED.
        using (var abandon = new CancellationTokenSource())
        {
            var abandoned = Post(1, cancellation: abandon.Token);
            Assert.True(SpinWait.SpinUntil(() => scheduler.QueuedCount == 1, TimeSpan.FromSeconds(10)));
            await abandon.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => abandoned);
            Assert.True(SpinWait.SpinUntil(() => scheduler.QueuedCount == 0, TimeSpan.FromSeconds(10)));
        }

        // 1 + 2 + 1 rows queue up; a fourth request finds the queue full: REJECTED.
        var queued = new[] { Post(1), Post(2), Post(1) };
        Assert.True(SpinWait.SpinUntil(() => scheduler.QueuedCount == 3, TimeSpan.FromSeconds(10)));
        var pending = Family(await ScrapeAsync(server), "nv_inference_pending_request_count");
        Assert.Equal(3, Value(pending, "nv_inference_pending_request_count"));
        using (var refused = await Post(1))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        }

        // 15 elements where 16 are needed: refused before the queue, reason OTHER.
        using (var invalid = await Post(1, elements: 15))
        {
            Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);
        }

        // The clock passes the delay: the three queued requests run as one batch of 4 rows,
        // each having waited exactly 61 s of the manual clock.
        time.Advance(TimeSpan.FromSeconds(61));
        foreach (var response in await Task.WhenAll(queued))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            response.Dispose();
        }

        var families = await ScrapeAsync(server);
        Assert.Equal(3, Value(Family(families, "nv_inference_request_success"), "nv_inference_request_success"));
        var failures = Family(families, "nv_inference_request_failure");
        Assert.Equal(1, Value(failures, "nv_inference_request_failure", ("reason", "REJECTED")));
        Assert.Equal(1, Value(failures, "nv_inference_request_failure", ("reason", "CANCELED")));
        Assert.Equal(1, Value(failures, "nv_inference_request_failure", ("reason", "OTHER")));
        Assert.Equal(0, Value(failures, "nv_inference_request_failure", ("reason", "BACKEND")));
        Assert.Equal(4, Value(Family(families, "nv_inference_count"), "nv_inference_count"));
        Assert.Equal(1, Value(Family(families, "nv_inference_exec_count"), "nv_inference_exec_count"));
        Assert.Equal(0, Value(Family(families, "nv_inference_pending_request_count"), "nv_inference_pending_request_count"));
        Assert.InRange(Value(Family(families, "nv_inference_queue_duration_us"), "nv_inference_queue_duration_us"), 3 * 61e6 - 3, 3 * 61e6 + 3);

        // The batches the statistics extension saw agree with the counters.
        var stats = JsonNode.Parse(await client.GetStringAsync("/v2/models/batched/stats"))!["model_stats"]![0]!;
        var batches = stats["batch_stats"]!.AsArray().Select(b => ((int)b!["batch_size"]!, (long)b["compute_infer"]!["count"]!)).ToList();
        Assert.Equal([(4, 1L)], batches);

        // Histograms: one observation per successful request; one batch of size 4.
        var request = Family(families, "fabrik_inference_request_duration_seconds");
        Assert.Equal("histogram", request.Type);
        Assert.Equal(3, Value(request, "fabrik_inference_request_duration_seconds_count"));
        Assert.Equal(3, Value(Family(families, "fabrik_inference_compute_duration_seconds"), "fabrik_inference_compute_duration_seconds_count"));
        var queue = Family(families, "fabrik_inference_queue_duration_seconds");
        Assert.Equal(3, Value(queue, "fabrik_inference_queue_duration_seconds_count"));
        Assert.Equal(0, Value(queue, "fabrik_inference_queue_duration_seconds_bucket", ("le", "10")));
        Assert.Equal(3, Value(queue, "fabrik_inference_queue_duration_seconds_bucket", ("le", "+Inf")));
        var batchSize = Family(families, "fabrik_inference_batch_size");
        Assert.Equal(1, Value(batchSize, "fabrik_inference_batch_size_count"));
        Assert.Equal(4, Value(batchSize, "fabrik_inference_batch_size_sum"));
        Assert.Equal(0, Value(batchSize, "fabrik_inference_batch_size_bucket", ("le", "2")));
        Assert.Equal(1, Value(batchSize, "fabrik_inference_batch_size_bucket", ("le", "4")));
        Assert.Equal(1, Value(Family(families, "fabrik_model_state"), "fabrik_model_state", ("state", "READY")));
    }

    [Fact]
    public async Task Metrics_TritonFamilies_HaveTritonsNamesTypesHelpAndLabels()
    {
        await using var server = await FabrikServer.StartAsync(ServerOptions.Parse(
            ["--model-repository", RepositoryLayout.Models, "--http-port", "0", "--metrics-port", "0", "--allow-grpc=false",
             "--metrics-config", "summary_latencies=true"]));
        using var client = new HttpClient { BaseAddress = server.HttpAddress };
        var body = new JsonObject { ["inputs"] = Samples.Sample("simple", 0)["inputs"]!.DeepClone() }.ToJsonString();
        using (var response = await client.PostAsync("/v2/models/simple/infer", new StringContent(body, Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        using var metrics = new HttpClient { BaseAddress = server.MetricsAddress };
        var text = await metrics.GetStringAsync("/metrics");
        var families = PrometheusText.Parse(text);
        foreach (var (name, type, help) in TritonFamilies.Select(row => ((string)row[0], (string)row[1], (string)row[2])))
        {
            var family = Family(families, name);
            Assert.Equal(type, family.Type);
            Assert.Equal(help, family.Help);
        }
        // Counters keep Triton's names: no _total suffix in the text format.
        Assert.Contains("\nnv_inference_request_success{model=\"simple\",version=\"1\"} 1\n", text, StringComparison.Ordinal);
        Assert.Equal(1, Value(Family(families, "nv_inference_request_summary_us"), "nv_inference_request_summary_us_count", ("model", "simple")));
        Assert.Contains(Family(families, "nv_inference_request_summary_us").Samples, s => s.Labels.GetValueOrDefault("quantile") == "0.99");
        Assert.All(Family(families, "nv_inference_count").Samples, s => Assert.Equal(["model", "version"], s.Labels.Keys.Order()));
        Assert.All(Family(families, "nv_inference_request_failure").Samples, s => Assert.Equal(["model", "reason", "version"], s.Labels.Keys.Order()));
        Assert.InRange(Value(Family(families, "nv_cpu_memory_total_bytes"), "nv_cpu_memory_total_bytes"), 1, double.MaxValue);
        Assert.InRange(Value(Family(families, "nv_pinned_memory_pool_total_bytes"), "nv_pinned_memory_pool_total_bytes"), 1, double.MaxValue);

        // OpenMetrics when the client asks for it.
        using var openMetrics = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        openMetrics.Headers.Accept.ParseAdd("application/openmetrics-text; version=1.0.0");
        using var negotiated = await metrics.SendAsync(openMetrics);
        Assert.Equal("application/openmetrics-text", negotiated.Content.Headers.ContentType!.MediaType);
        var openFamilies = PrometheusText.Parse(await negotiated.Content.ReadAsStringAsync(), ExpositionFormat.OpenMetrics);
        // OpenMetrics requires _total on a counter's sample: Triton's bare counter names are typed unknown there.
        Assert.Equal("unknown", Family(openFamilies, "nv_inference_request_success").Type);
        Assert.Equal(1, Value(Family(openFamilies, "nv_inference_request_success"), "nv_inference_request_success", ("model", "simple")));
        Assert.Equal("histogram", Family(openFamilies, "fabrik_inference_request_duration_seconds").Type);
        Assert.Equal("summary", Family(openFamilies, "nv_inference_request_summary_us").Type);

        // Only /metrics is served there.
        using var other = await metrics.GetAsync("/v2/health/ready");
        Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);
    }

    [Fact]
    public async Task Metrics_UnloadedVersion_ItsSeriesLeaveTheEndpointAndOthersStay()
    {
        using var repository = new TemporaryRepository().Add("simple").Add("mlp");
        await using var host = await InMemoryFabrik.StartAsync("--model-repository", repository.Path, "--model-control-mode=explicit",
            "--load-model=simple", "--load-model=mlp", "--metrics-config", "summary_latencies=true");
        using var client = host.CreateHttpClient();
        async Task InferAsync(string model)
        {
            var body = new JsonObject { ["inputs"] = Samples.Sample(model, 0)["inputs"]!.DeepClone() }.ToJsonString();
            using var response = await client.PostAsync($"/v2/models/{model}/infer", new StringContent(body, Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        async Task PostOkAsync(string path)
        {
            using var response = await client.PostAsync(path, new StringContent("", Encoding.UTF8, "application/json"));
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
        static List<string> SeriesOf(IReadOnlyDictionary<string, PrometheusFamily> families, string model) =>
            [.. families.Values.SelectMany(family => family.Samples)
                .Where(sample => sample.Labels.GetValueOrDefault("model") == model && sample.Labels.GetValueOrDefault("version") == "1")
                .Select(sample => sample.Name)];
        string[] perVersion =
        [
            "nv_inference_request_success", "nv_inference_request_failure", "nv_inference_count",
            "nv_inference_request_duration_us", "nv_inference_pending_request_count", "nv_inference_request_summary_us_count",
            "fabrik_inference_request_duration_seconds_count", "fabrik_inference_queue_duration_seconds_bucket",
            "fabrik_inference_compute_duration_seconds_sum", "fabrik_inference_batch_size_count", "fabrik_model_state",
        ];

        await InferAsync("simple");
        await InferAsync("mlp");
        var before = await ScrapeAsync(host.Server);
        foreach (var model in new[] { "simple", "mlp" })
        {
            var series = SeriesOf(before, model);
            Assert.All(perVersion, name => Assert.Contains(name, series));
        }

        await PostOkAsync("/v2/repository/models/simple/unload");
        var after = await ScrapeAsync(host.Server);
        Assert.Empty(SeriesOf(after, "simple"));
        var mlp = SeriesOf(after, "mlp");
        Assert.All(perVersion, name => Assert.Contains(name, mlp));
        Assert.Equal(1, Value(Family(after, "fabrik_inference_request_duration_seconds"), "fabrik_inference_request_duration_seconds_count", ("model", "mlp")));
        // The unloaded model is still listed by state, without a version.
        Assert.Equal(1, Value(Family(after, "fabrik_model_state"), "fabrik_model_state", ("model", "simple"), ("state", "UNAVAILABLE"), ("version", "")));

        // Loaded again, the version starts from nothing: one request is one observation, not two.
        await PostOkAsync("/v2/repository/models/simple/load");
        await InferAsync("simple");
        var reloaded = await ScrapeAsync(host.Server);
        Assert.Equal(1, Value(Family(reloaded, "fabrik_inference_request_duration_seconds"), "fabrik_inference_request_duration_seconds_count", ("model", "simple")));
        Assert.Equal(1, Value(Family(reloaded, "nv_inference_request_summary_us"), "nv_inference_request_summary_us_count", ("model", "simple")));
        Assert.Equal(1, Value(Family(reloaded, "fabrik_inference_batch_size"), "fabrik_inference_batch_size_count", ("model", "simple")));
    }

    [Fact]
    public async Task Metrics_AllowMetricsFalse_LeavesThePortClosed()
    {
        var port = FreePort();
        await using var server = await FabrikServer.StartAsync(ServerOptions.Parse(
            ["--model-repository", RepositoryLayout.Models, "--http-port", "0", "--allow-grpc=false", "--allow-metrics=false",
             "--metrics-port", port.ToString(System.Globalization.CultureInfo.InvariantCulture)]));

        Assert.Null(server.MetricsAddress);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var refused = await Assert.ThrowsAsync<SocketException>(() => socket.ConnectAsync(IPAddress.Loopback, port));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
    }

    internal static async Task<IReadOnlyDictionary<string, PrometheusFamily>> ScrapeAsync(FabrikServer server)
    {
        using var metrics = new HttpClient { BaseAddress = server.MetricsAddress };
        return PrometheusText.Parse(await metrics.GetStringAsync("/metrics"));
    }

    internal static PrometheusFamily Family(IReadOnlyDictionary<string, PrometheusFamily> families, string name) =>
        families.TryGetValue(name, out var family) ? family : throw new Xunit.Sdk.XunitException($"{name} is not exported; exported: {string.Join(", ", families.Keys)}");

    /// <summary>The one sample named <paramref name="sample"/> whose labels include <paramref name="labels"/>.</summary>
    internal static double Value(PrometheusFamily family, string sample, params (string Name, string Value)[] labels) =>
        family.Samples.Single(s => s.Name == sample && labels.All(label => s.Labels.GetValueOrDefault(label.Name) == label.Value)).Value;

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
