using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Hosting;
using Fabrik.Protocol.Triton;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using OpenTelemetry;
using OpenTelemetry.Trace;
using Xunit;

namespace Fabrik.Tests.Observability;

/// <summary>Traces of inference requests: the span tree and its attributes (in-memory exporter),
/// the OTLP/HTTP wire export (decoded by a receiver in the test), and traceparent continuation.</summary>
public sealed class TracingTests
{
    private static readonly string[] Phases = ["queue", "compute_input", "compute_infer", "compute_output"];

    [Fact]
    public async Task Trace_HttpRequestWithTraceparent_SpansContinueTheCallersTrace()
    {
        var spans = new LockedCollection();
        using var provider = Sdk.CreateTracerProviderBuilder().AddSource("Fabrik").AddInMemoryExporter(spans).Build();
        await using var server = await FabrikServer.StartAsync(ServerOptions.Parse(
            ["--model-repository", RepositoryLayout.Models, "--http-port", "0", "--metrics-port", "0", "--allow-grpc=false"]));
        using var client = new HttpClient { BaseAddress = server.HttpAddress };

        // Tracing is OFF by default; the trace extension turns it on for one model.
        using (var on = await client.PostAsync("/v2/models/simple/trace/setting",
                   new StringContent("""{"trace_level":["TIMESTAMPS"],"trace_rate":"1"}""", Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.OK, on.StatusCode);
        }
        // No path or URL is settable at run time.
        using (var refused = await client.PostAsync("/v2/trace/setting",
                   new StringContent("""{"trace_file":"/tmp/x.json"}""", Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            Assert.Contains("trace_file", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        Assert.Equal("OFF", (string)JsonNode.Parse(await client.GetStringAsync("/v2/trace/setting"))!["trace_level"]![0]!);

        var traceId = ActivityTraceId.CreateRandom();
        var callerSpan = ActivitySpanId.CreateRandom();
        using var infer = new HttpRequestMessage(HttpMethod.Post, "/v2/models/simple/infer")
        {
            Content = new StringContent(new JsonObject { ["inputs"] = Samples.Sample("simple", 0)["inputs"]!.DeepClone() }.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        infer.Headers.Add("traceparent", $"00-{traceId}-{callerSpan}-01");
        using (var response = await client.SendAsync(infer))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        // The span ends just after the response is written; wait for it and its children.
        List<Activity> ours = [];
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(60) && ours.Count < 1 + Phases.Length)
        {
            await Task.Delay(20);
            ours = spans.Snapshot().Where(span => span.TraceId == traceId).ToList();
        }
        var request = Assert.Single(ours, span => span.DisplayName == "infer");
        Assert.Equal(callerSpan, request.ParentSpanId);
        Assert.Equal("HTTP", request.GetTagItem("inference.protocol"));
        Assert.Equal("simple", request.GetTagItem("model_name"));
        Assert.Equal("1", request.GetTagItem("model_version"));
        Assert.Equal(1, request.GetTagItem("batch_size"));
        Assert.Equal("200", request.GetTagItem("status"));
        foreach (var phase in Phases)
        {
            var child = Assert.Single(ours, span => span.DisplayName == phase);
            Assert.Equal(request.SpanId, child.ParentSpanId);
            Assert.InRange(child.StartTimeUtc, request.StartTimeUtc, request.StartTimeUtc + request.Duration);
        }

        // A model without settings of its own follows the global ones (OFF).
        Assert.Equal("OFF", (string)JsonNode.Parse(await client.GetStringAsync("/v2/models/mlp/trace/setting"))!["trace_level"]![0]!);
    }

    [Fact]
    public async Task Trace_EnsembleRequest_HasASpanPerStepWithItsOwnPhases()
    {
        var spans = new LockedCollection();
        using var provider = Sdk.CreateTracerProviderBuilder().AddSource("Fabrik").AddInMemoryExporter(spans).Build();
        await using var server = await FabrikServer.StartAsync(ServerOptions.Parse(
            ["--model-repository", RepositoryLayout.Models, "--http-port", "0", "--metrics-port", "0", "--allow-grpc=false"]));
        using var client = new HttpClient { BaseAddress = server.HttpAddress };
        using (var on = await client.PostAsync("/v2/models/simple_chain/trace/setting",
                   new StringContent("""{"trace_level":["TIMESTAMPS"],"trace_rate":"1"}""", Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.OK, on.StatusCode);
        }
        var traceId = ActivityTraceId.CreateRandom();
        using var infer = new HttpRequestMessage(HttpMethod.Post, "/v2/models/simple_chain/infer")
        {
            Content = new StringContent(new JsonObject { ["inputs"] = Samples.Sample("simple_chain", 0)["inputs"]!.DeepClone() }.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        infer.Headers.Add("traceparent", $"00-{traceId}-{ActivitySpanId.CreateRandom()}-01");
        using (var response = await client.SendAsync(infer))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        // The request's span, a span per step (simple, then simple again) and each step's phases.
        const int expected = 1 + 2 * (1 + 4);
        await Eventually.UntilAsync(() => spans.Snapshot().Count(span => span.TraceId == traceId) >= expected, "the ensemble's spans");
        var ours = spans.Snapshot().Where(span => span.TraceId == traceId).ToList();
        var request = Assert.Single(ours, span => span.DisplayName == "infer");
        Assert.Equal("simple_chain", request.GetTagItem("model_name"));
        var steps = ours.Where(span => span.DisplayName == "ensemble_step").OrderBy(span => span.StartTimeUtc).ToList();
        Assert.Equal(2, steps.Count);
        Assert.Equal(["step 0 ('simple')", "step 1 ('simple')"], steps.Select(step => (string)step.GetTagItem("ensemble_step")!));
        Assert.All(steps, step =>
        {
            Assert.Equal(request.SpanId, step.ParentSpanId);
            Assert.Equal("simple", step.GetTagItem("model_name"));
            Assert.Equal("1", step.GetTagItem("model_version"));
            Assert.Equal(ActivityStatusCode.Ok, step.Status);
            Assert.Equal(Phases, ours.Where(span => span.ParentSpanId == step.SpanId).OrderBy(span => span.StartTimeUtc).Select(span => span.DisplayName));
        });
        // The second step starts only after the first has ended: it reads the first one's outputs.
        Assert.True(steps[1].StartTimeUtc >= steps[0].StartTimeUtc + steps[0].Duration - TimeSpan.FromMilliseconds(1));
    }

    [Fact]
    public async Task Trace_GrpcRequestWithTraceparent_IsExportedOverOtlpHttp()
    {
        var port = FreePort();
        using var receiver = new HttpListener();
        receiver.Prefixes.Add($"http://127.0.0.1:{port}/");
        receiver.Start();
        var bodies = new List<byte[]>();
        var receiving = Task.Run(async () =>
        {
            while (receiver.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await receiver.GetContextAsync();
                }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException)
                {
                    return;
                }
                using var body = new MemoryStream();
                await context.Request.InputStream.CopyToAsync(body);
                lock (bodies)
                {
                    if (context.Request.Url!.AbsolutePath == "/v1/traces")
                    {
                        bodies.Add(body.ToArray());
                    }
                }
                context.Response.StatusCode = 200;
                context.Response.Close();
            }
        });

        await using var server = await FabrikServer.StartAsync(ServerOptions.Parse(
            ["--model-repository", RepositoryLayout.Models, "--http-port", "0", "--grpc-port", "0", "--metrics-port", "0",
             "--trace-config", "mode=opentelemetry", "--trace-config", $"opentelemetry,url=127.0.0.1:{port}/v1/traces",
             "--trace-config", "rate=1", "--trace-config", "level=TIMESTAMPS", "--trace-config", "opentelemetry,resource=deployment=test"]));
        using var channel = GrpcChannel.ForAddress(server.GrpcAddress!);
        var grpc = new GRPCInferenceService.GRPCInferenceServiceClient(channel);
        var traceId = ActivityTraceId.CreateRandom();
        var callerSpan = ActivitySpanId.CreateRandom();
        var message = new ModelInferRequest { ModelName = "simple" };
        foreach (var name in new[] { "INPUT0", "INPUT1" })
        {
            var input = new ModelInferRequest.Types.InferInputTensor { Name = name, Datatype = "INT32", Shape = { 1, 16 }, Contents = new InferTensorContents() };
            input.Contents.IntContents.AddRange(Enumerable.Range(0, 16));
            message.Inputs.Add(input);
        }
        await grpc.ModelInferAsync(message, new Metadata { { "traceparent", $"00-{traceId}-{callerSpan}-01" } });

        // The exporter sends a batch within about a second; wait for the one holding our trace.
        var deadline = Stopwatch.StartNew();
        List<OtlpSpan> exported = [];
        while (deadline.Elapsed < TimeSpan.FromSeconds(60) && exported.Count < 1 + Phases.Length)
        {
            await Task.Delay(100);
            lock (bodies)
            {
                exported = bodies.SelectMany(OtlpSpan.Decode).Where(span => span.TraceId == traceId.ToHexString()).ToList();
            }
        }
        receiver.Stop();
        await receiving;

        var request = Assert.Single(exported, span => span.Name == "infer");
        Assert.Equal(callerSpan.ToHexString(), request.ParentSpanId);
        Assert.Equal("GRPC", request.Attributes["inference.protocol"]);
        Assert.Equal("simple", request.Attributes["model_name"]);
        Assert.Equal("OK", request.Attributes["status"]);
        Assert.Equal("test", request.Resource["deployment"]);
        Assert.Equal("fabrik", request.Resource["service.name"]);
        foreach (var phase in Phases)
        {
            Assert.Equal(request.SpanId, Assert.Single(exported, span => span.Name == phase).ParentSpanId);
        }
    }

    /// <summary>The exporter adds from its own thread while the test reads.</summary>
    private sealed class LockedCollection : System.Collections.ObjectModel.Collection<Activity>
    {
        public Activity[] Snapshot()
        {
            lock (Items)
            {
                return [.. Items];
            }
        }

        protected override void InsertItem(int index, Activity item)
        {
            lock (Items)
            {
                base.InsertItem(index, item);
            }
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>A span as OTLP's protobuf carries it, decoded field by field from
    /// opentelemetry/proto/collector/trace/v1 (ExportTraceServiceRequest).</summary>
    private sealed record OtlpSpan(string TraceId, string SpanId, string ParentSpanId, string Name,
        IReadOnlyDictionary<string, string> Attributes, IReadOnlyDictionary<string, string> Resource)
    {
        public static IEnumerable<OtlpSpan> Decode(byte[] body)
        {
            foreach (var resourceSpans in Fields(body, 1))                                   // resource_spans
            {
                var resource = Fields(resourceSpans, 1).SelectMany(r => Fields(r, 1)).Select(KeyValue).ToDictionary(); // resource.attributes
                foreach (var scopeSpans in Fields(resourceSpans, 2))                         // scope_spans
                {
                    foreach (var span in Fields(scopeSpans, 2))                              // spans
                    {
                        yield return new OtlpSpan(
                            Convert.ToHexStringLower(Fields(span, 1).Single()),
                            Convert.ToHexStringLower(Fields(span, 2).Single()),
                            Convert.ToHexStringLower(Fields(span, 4).SingleOrDefault() ?? []),
                            Encoding.UTF8.GetString(Fields(span, 5).Single()),
                            Fields(span, 9).Select(KeyValue).ToDictionary(),
                            resource);
                    }
                }
            }
        }

        /// <summary>KeyValue { key = 1; AnyValue value = 2 }; AnyValue's string (1) or int (3).</summary>
        private static KeyValuePair<string, string> KeyValue(byte[] keyValue)
        {
            var key = Encoding.UTF8.GetString(Fields(keyValue, 1).Single());
            var value = Fields(keyValue, 2).Single();
            var text = Fields(value, 1).Select(bytes => Encoding.UTF8.GetString(bytes)).FirstOrDefault();
            if (text is null)
            {
                var input = new CodedInputStream(value);
                uint tag;
                while ((tag = input.ReadTag()) != 0)
                {
                    if (WireFormat.GetTagFieldNumber(tag) == 3)
                    {
                        text = input.ReadInt64().ToString(System.Globalization.CultureInfo.InvariantCulture);
                    }
                    else
                    {
                        input.SkipLastField();
                    }
                }
            }
            return new(key, text ?? "");
        }

        /// <summary>The length-delimited fields numbered <paramref name="number"/> of a message.</summary>
        private static List<byte[]> Fields(byte[] message, int number)
        {
            var found = new List<byte[]>();
            var input = new CodedInputStream(message);
            uint tag;
            while ((tag = input.ReadTag()) != 0)
            {
                if (WireFormat.GetTagFieldNumber(tag) == number && WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited)
                {
                    found.Add(input.ReadBytes().ToByteArray());
                }
                else
                {
                    input.SkipLastField();
                }
            }
            return found;
        }
    }
}
