using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Fabrik.Hosting;
using Fabrik.Protocol.Triton;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Xunit;

namespace Fabrik.Tests.Protocol;

/// <summary>
/// The same succeeding and failing requests sent over HTTP and over gRPC to one real server (real
/// sockets on every port) leave the same trace in the model statistics, the metrics and the audit
/// log. Each request is built by hand for its protocol; what each case must record is written
/// down here, not read from the server.
/// </summary>
public sealed partial class ProtocolParityTests : IDisposable
{
    private readonly TemporaryRepository _repository;
    private readonly string _folder = Directory.CreateTempSubdirectory("fabrik-parity-").FullName;

    public ProtocolParityTests()
    {
        // "loose": the mlp model (FP32 [-1, 16] in ONNX) declared with a free second dimension, so
        // a request of 15 columns passes the server's checks and fails inside ONNX Runtime.
        // "batched": a 60 s batching delay on a manual clock and room for one queued request.
        _repository = new TemporaryRepository()
            .Add("simple")
            .Add("mlp", "loose")
            .Add("simple", "batched", "dynamic_batching { max_queue_delay_microseconds: 60000000 default_queue_policy { max_queue_size: 1 } }");
        var config = Path.Combine(_repository.Path, "loose", "config.pbtxt");
        File.WriteAllText(config, File.ReadAllText(config).Replace("dims: [ 16 ]", "dims: [ -1 ]", StringComparison.Ordinal));
    }

    public void Dispose()
    {
        _repository.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    /// <summary>One request sent both ways: the model it names, what the client must get on each
    /// protocol, and what it must add to the model's counters (null reason: none added).</summary>
    private sealed record Case(string Name, string Model, string Version, int HttpStatus, StatusCode GrpcStatus, int Successes, string? FailureReason);

    [Fact]
    public async Task SameRequests_OverHttpAndGrpc_RecordTheSameStatisticsMetricsAndAudit()
    {
        var audit = Path.Combine(_folder, "audit.jsonl");
        var time = new ManualTimeProvider();
        var sent = new List<(string Protocol, Case Case)>();
        await using (var server = await FabrikServer.StartAsync(ServerOptions.Parse([
            "--model-repository", _repository.Path, "--http-port", "0", "--grpc-port", "0", "--metrics-port", "0",
            "--audit-log", audit, "--audit-inference=true"]), time))
        {
            using var http = new HttpClient { BaseAddress = server.HttpAddress, Timeout = TimeSpan.FromSeconds(30) };
            using var metrics = new HttpClient { BaseAddress = server.MetricsAddress, Timeout = TimeSpan.FromSeconds(30) };
            using var channel = GrpcChannel.ForAddress(server.GrpcAddress!);
            var grpc = new GRPCInferenceService.GRPCInferenceServiceClient(channel);

            async Task CheckAsync(Case expected, Func<Task<HttpResponseMessage>> overHttp, Func<Task> overGrpc)
            {
                var before = await SnapshotAsync(http, metrics, expected.Model);
                using (var response = await overHttp())
                {
                    Assert.True((int)response.StatusCode == expected.HttpStatus, $"{expected.Name} over HTTP: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
                }
                sent.Add(("http", expected));
                var afterHttp = await SnapshotAsync(http, metrics, expected.Model);
                if (expected.GrpcStatus == StatusCode.OK)
                {
                    await overGrpc();
                }
                else
                {
                    var error = await Assert.ThrowsAsync<RpcException>(overGrpc);
                    Assert.True(error.StatusCode == expected.GrpcStatus, $"{expected.Name} over gRPC: {error.Status}");
                }
                sent.Add(("grpc", expected));
                var afterGrpc = await SnapshotAsync(http, metrics, expected.Model);

                var expectedChange = Expected(expected);
                Assert.True(expectedChange == afterHttp - before, $"{expected.Name} over HTTP recorded {afterHttp - before}, expected {expectedChange}");
                Assert.True(expectedChange == afterGrpc - afterHttp, $"{expected.Name} over gRPC recorded {afterGrpc - afterHttp}, expected {expectedChange}");
            }

            var success = new Case("success", "simple", "1", 200, StatusCode.OK, 1, null);
            await CheckAsync(success, () => PostAsync(http, "simple", Json("INT32", 16)), () => grpc.ModelInferAsync(Grpc("simple", "INT32", 16)).ResponseAsync);

            var unknown = new Case("unknown model", "nosuch", "", 404, StatusCode.NotFound, 0, null);
            await CheckAsync(unknown, () => PostAsync(http, "nosuch", Json("INT32", 16)), () => grpc.ModelInferAsync(Grpc("nosuch", "INT32", 16)).ResponseAsync);

            var badShape = new Case("bad shape", "simple", "1", 400, StatusCode.InvalidArgument, 0, "OTHER");
            await CheckAsync(badShape, () => PostAsync(http, "simple", Json("INT32", 15)), () => grpc.ModelInferAsync(Grpc("simple", "INT32", 15)).ResponseAsync);

            var wrongType = new Case("wrong datatype", "simple", "1", 400, StatusCode.InvalidArgument, 0, "OTHER");
            await CheckAsync(wrongType, () => PostAsync(http, "simple", Json("FP32", 16)), () => grpc.ModelInferAsync(Grpc("simple", "FP32", 16)).ResponseAsync);

            // The session refuses a shape the configuration let through: the request's fault, as Triton answers it.
            var backend = new Case("shape the model refuses", "loose", "1", 400, StatusCode.InvalidArgument, 0, "OTHER");
            await CheckAsync(backend, () => PostAsync(http, "loose", Json("FP32", 15, input1: false)), () => grpc.ModelInferAsync(Grpc("loose", "FP32", 15, input1: false)).ResponseAsync);

            // One request waits in the batched model's queue (the manual clock holds the batch), so
            // the queue is full for the next one on either protocol.
            var waiting = PostAsync(http, "batched", Json("INT32", 16));
            var scheduler = server.Models.Resolve("batched", null).Scheduler;
            Assert.True(SpinWait.SpinUntil(() => scheduler.QueuedCount == 1, TimeSpan.FromSeconds(10)));
            var full = new Case("full queue", "batched", "1", 503, StatusCode.Unavailable, 0, "REJECTED");
            await CheckAsync(full, () => PostAsync(http, "batched", Json("INT32", 16)), () => grpc.ModelInferAsync(Grpc("batched", "INT32", 16)).ResponseAsync);
            time.Advance(TimeSpan.FromSeconds(61));
            using (var released = await waiting)
            {
                Assert.Equal(HttpStatusCode.OK, released.StatusCode);
            }
            sent.Add(("http", success with { Model = "batched" }));
        }

        // Inference records are buffered; the server's stop writes them out. In order: one per
        // request, the same fields on both protocols, each protocol's own status for the outcome.
        var records = File.ReadLines(audit).Select(line => JsonNode.Parse(line)!.AsObject())
            .Where(record => (string?)record["event"] == "inference").ToList();
        Assert.Equal(sent.Count, records.Count);
        for (var i = 0; i < sent.Count; i++)
        {
            var (protocol, expected) = sent[i];
            var record = records[i];
            var context = $"{expected.Name} over {protocol}: {record.ToJsonString()}";
            Assert.True((string?)record["protocol"] == protocol, context);
            Assert.True((string?)record["model"] == expected.Model, context);
            Assert.True(record["latency_us"] is not null && record["request_id"] is not null && record["bytes_in"] is not null, context);
            var status = protocol == "http" ? record["status"]!.ToJsonString() : (string?)record["status"];
            var want = protocol == "http" ? expected.HttpStatus.ToString(CultureInfo.InvariantCulture) : expected.GrpcStatus.ToString();
            Assert.True(status == want, context);
        }
    }

    /// <summary>The counters of one model: statistics and metrics side by side.</summary>
    private sealed record Snapshot(long StatsSuccess, long StatsFail, long StatsInferences, long StatsExecutions,
        long MetricSuccess, long MetricOther, long MetricRejected, long MetricBackend, long MetricCanceled, long MetricInferences, long MetricExecutions)
    {
        public static Snapshot operator -(Snapshot a, Snapshot b) => new(
            a.StatsSuccess - b.StatsSuccess, a.StatsFail - b.StatsFail, a.StatsInferences - b.StatsInferences, a.StatsExecutions - b.StatsExecutions,
            a.MetricSuccess - b.MetricSuccess, a.MetricOther - b.MetricOther, a.MetricRejected - b.MetricRejected, a.MetricBackend - b.MetricBackend,
            a.MetricCanceled - b.MetricCanceled, a.MetricInferences - b.MetricInferences, a.MetricExecutions - b.MetricExecutions);
    }

    /// <summary>What one request of <paramref name="c"/> adds: a success runs one row in one
    /// execution; a failure adds one to the failure count and to its reason's metric.</summary>
    private static Snapshot Expected(Case c)
    {
        var failures = c.FailureReason is null ? 0 : 1;
        return new Snapshot(c.Successes, failures, c.Successes, c.Successes, c.Successes,
            c.FailureReason == "OTHER" ? 1 : 0, c.FailureReason == "REJECTED" ? 1 : 0, c.FailureReason == "BACKEND" ? 1 : 0,
            c.FailureReason == "CANCELED" ? 1 : 0, c.Successes, c.Successes);
    }

    private static async Task<Snapshot> SnapshotAsync(HttpClient http, HttpClient metrics, string model)
    {
        long statsSuccess = 0, statsFail = 0, statsInferences = 0, statsExecutions = 0;
        using (var response = await http.GetAsync($"/v2/models/{model}/stats"))
        {
            if (response.StatusCode == HttpStatusCode.OK)
            {
                var stats = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["model_stats"]!.AsArray().Single()!;
                statsSuccess = (long)stats["inference_stats"]!["success"]!["count"]!;
                statsFail = (long)stats["inference_stats"]!["fail"]!["count"]!;
                statsInferences = (long)stats["inference_count"]!;
                statsExecutions = (long)stats["execution_count"]!;
            }
        }
        var samples = ParseExposition(await metrics.GetStringAsync("/metrics"));
        long Metric(string name, string? reason = null) => (long)samples
            .Where(sample => sample.Name == name && sample.Labels.GetValueOrDefault("model") == model
                && (reason is null || sample.Labels.GetValueOrDefault("reason") == reason))
            .Sum(sample => sample.Value);
        return new Snapshot(statsSuccess, statsFail, statsInferences, statsExecutions,
            Metric("nv_inference_request_success"), Metric("nv_inference_request_failure", "OTHER"), Metric("nv_inference_request_failure", "REJECTED"),
            Metric("nv_inference_request_failure", "BACKEND"), Metric("nv_inference_request_failure", "CANCELED"),
            Metric("nv_inference_count"), Metric("nv_inference_exec_count"));
    }

    /// <summary>Samples of a Prometheus text exposition: <c>name{label="value",...} number</c> lines.</summary>
    private static List<(string Name, Dictionary<string, string> Labels, double Value)> ParseExposition(string text)
    {
        var samples = new List<(string, Dictionary<string, string>, double)>();
        foreach (var line in text.Split('\n'))
        {
            var match = SampleLine().Match(line);
            if (!match.Success)
            {
                continue;
            }
            var labels = LabelPair().Matches(match.Groups["labels"].Value)
                .ToDictionary(pair => pair.Groups["name"].Value, pair => pair.Groups["value"].Value);
            samples.Add((match.Groups["name"].Value, labels, double.Parse(match.Groups["value"].Value, CultureInfo.InvariantCulture)));
        }
        return samples;
    }

    [GeneratedRegex("""^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>.*)\})?\s+(?<value>\S+)""")]
    private static partial Regex SampleLine();

    [GeneratedRegex(@"(?<name>[a-zA-Z_][a-zA-Z0-9_]*)=""(?<value>(?:[^""\\]|\\.)*)""")]
    private static partial Regex LabelPair();

    private static Task<HttpResponseMessage> PostAsync(HttpClient http, string model, string body) =>
        http.PostAsync($"/v2/models/{model}/infer", new StringContent(body, Encoding.UTF8, "application/json"));

    /// <summary>A KServe v2 JSON body: INPUT0 (and INPUT1 unless told not to) of shape [1, columns].</summary>
    private static string Json(string datatype, int columns, bool input1 = true)
    {
        var data = string.Join(",", Enumerable.Range(0, columns));
        var input = $$"""{"name":"{0}","datatype":"{{datatype}}","shape":[1,{{columns}}],"data":[{{data}}]}""";
        var inputs = input1 ? $"{input.Replace("{0}", "INPUT0", StringComparison.Ordinal)},{input.Replace("{0}", "INPUT1", StringComparison.Ordinal)}" : input.Replace("{0}", "INPUT0", StringComparison.Ordinal);
        return $$"""{"inputs":[{{inputs}}]}""";
    }

    /// <summary>The same request as a ModelInferRequest, tensors in raw_input_contents (little-endian).</summary>
    private static ModelInferRequest Grpc(string model, string datatype, int columns, bool input1 = true)
    {
        var request = new ModelInferRequest { ModelName = model, Id = $"{model}-{datatype}-{columns}" };
        var raw = new byte[columns * 4];
        for (var i = 0; i < columns; i++)
        {
            if (datatype == "FP32")
            {
                BitConverter.TryWriteBytes(raw.AsSpan(i * 4), (float)i);
            }
            else
            {
                BitConverter.TryWriteBytes(raw.AsSpan(i * 4), i);
            }
        }
        foreach (var name in input1 ? new[] { "INPUT0", "INPUT1" } : ["INPUT0"])
        {
            var tensor = new ModelInferRequest.Types.InferInputTensor { Name = name, Datatype = datatype };
            tensor.Shape.Add([1, columns]);
            request.Inputs.Add(tensor);
            request.RawInputContents.Add(ByteString.CopyFrom(raw));
        }
        return request;
    }
}
