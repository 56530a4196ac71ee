using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Protocol.Triton;
using Grpc.Core;
using StatusCode = Grpc.Core.StatusCode;
using OpenTelemetry;
using OpenTelemetry.Trace;
using Xunit;

namespace Fabrik.Tests.Observability;

/// <summary>Triton's trace extension over gRPC (TraceSetting) and HTTP (/v2/trace/setting): read
/// back, changed at run time with visible effect on which requests are traced, cleared back to the
/// global (or start-up) settings, and refused for anything that is not level or rate. Each test has
/// a server of its own: the settings it changes are the server's.</summary>
public sealed class TraceSettingTests : IAsyncLifetime
{
    private readonly List<Activity> _spans = [];
    private TracerProvider _provider = null!;
    private InMemoryFabrik _host = null!;
    private HttpClient _http = null!;
    private Grpc.Net.Client.GrpcChannel _channel = null!;
    private GRPCInferenceService.GRPCInferenceServiceClient _grpc = null!;

    public async Task InitializeAsync()
    {
        // The span source is process-wide; spans are told apart by the trace ids the test sends.
        _provider = Sdk.CreateTracerProviderBuilder().AddSource("Fabrik").AddProcessor(new SimpleActivityExportProcessor(new ListExporter(_spans))).Build()!;
        _host = await InMemoryFabrik.StartAsync("--model-repository", RepositoryLayout.Models);
        _http = _host.CreateHttpClient();
        _channel = _host.CreateGrpcChannel();
        _grpc = new GRPCInferenceService.GRPCInferenceServiceClient(_channel);
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        _channel.Dispose();
        await _host.DisposeAsync();
        _provider.Dispose();
    }

    [Fact]
    public async Task Grpc_ReadChangeAndRefuse_RateAndLevelTakeEffectAndNoFileIsSettable()
    {
        // Triton's defaults: OFF, one in 1000; a model without settings of its own shows the same.
        var initial = Settings(await _grpc.TraceSettingAsync(new TraceSettingRequest()));
        Assert.Equal("OFF|1000|triton", initial);
        Assert.Equal(initial, Settings(await _grpc.TraceSettingAsync(new TraceSettingRequest { ModelName = "simple" })));
        Assert.Equal("-", await TracedAsync("simple", 1));

        // TIMESTAMPS, one request in two: of four requests, the second and the fourth are traced.
        var changed = await _grpc.TraceSettingAsync(Request(null, ("trace_level", ["TIMESTAMPS"]), ("trace_rate", ["2"])));
        Assert.Equal("TIMESTAMPS|2|triton", Settings(changed));
        Assert.Equal("-+-+", await TracedAsync("simple", 4));

        // A model's own level: simple stops being traced, mlp (still following the global settings) is.
        Assert.Equal("OFF|2|triton", Settings(await _grpc.TraceSettingAsync(Request("simple", ("trace_level", ["OFF"])))));
        Assert.Equal("TIMESTAMPS|2|triton", Settings(await _grpc.TraceSettingAsync(new TraceSettingRequest())));
        Assert.Equal("--", await TracedAsync("simple", 2));
        Assert.Equal("-+", await TracedAsync("mlp", 2));

        // No file path or URL, and nothing but level and rate, is settable; a refused request changes nothing,
        // even the part of it that would have been valid.
        foreach (var (model, name, value) in new[]
                 {
                     ((string?)null, "trace_file", "/tmp/trace.json"),
                     ("simple", "trace_file", "/tmp/trace.json"),
                     (null, "trace_mode", "triton"),
                     (null, "opentelemetry_url", "collector.example:4318/v1/traces"),
                     (null, "log_frequency", "10"),
                     (null, "trace_rate", "0"),
                     (null, "trace_level", "TENSORS"),
                 })
        {
            var refused = await Assert.ThrowsAsync<RpcException>(() =>
                _grpc.TraceSettingAsync(Request(model, ("trace_rate", ["7"]), (name, [value]))).ResponseAsync);
            Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
            Assert.Contains(name, refused.Status.Detail, StringComparison.Ordinal);
            Assert.DoesNotContain("/tmp", refused.Status.Detail, StringComparison.Ordinal);
        }
        Assert.Equal("TIMESTAMPS|2|triton", Settings(await _grpc.TraceSettingAsync(new TraceSettingRequest())));
        Assert.Equal("OFF|2|triton", Settings(await _grpc.TraceSettingAsync(new TraceSettingRequest { ModelName = "simple" })));

        var unknown = await Assert.ThrowsAsync<RpcException>(() => _grpc.TraceSettingAsync(new TraceSettingRequest { ModelName = "no_such_model" }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, unknown.StatusCode);

        // The HTTP endpoint reads the same settings the RPC wrote.
        var http = JsonNode.Parse(await _http.GetStringAsync("/v2/models/simple/trace/setting"))!;
        Assert.Equal("OFF", (string)http["trace_level"]![0]!);
        Assert.Equal("2", (string)http["trace_rate"]!);
    }

    [Fact]
    public async Task ModelSettings_ClearedOverGrpcAndHttp_FollowTheGlobalOnesAgain()
    {
        // The model sets level and rate; the global settings change afterwards and do not reach them.
        await _grpc.TraceSettingAsync(Request(null, ("trace_level", ["TIMESTAMPS"]), ("trace_rate", ["1"])));
        Assert.Equal("OFF|5|triton", Settings(await _grpc.TraceSettingAsync(Request("simple", ("trace_level", ["OFF"]), ("trace_rate", ["5"])))));
        Assert.Equal("TIMESTAMPS|3|triton", Settings(await _grpc.TraceSettingAsync(Request(null, ("trace_rate", ["3"])))));
        Assert.Equal("OFF|5|triton", Settings(await _grpc.TraceSettingAsync(new TraceSettingRequest { ModelName = "simple" })));
        Assert.Equal("--", await TracedAsync("simple", 2));

        // gRPC: a setting with no value clears the model's own; the rate follows the global 3 again.
        Assert.Equal("OFF|3|triton", Settings(await _grpc.TraceSettingAsync(Request("simple", ("trace_rate", [])))));

        // HTTP: null clears the level; the model now has nothing of its own and is traced as the
        // global settings say (TIMESTAMPS, one in three: the third request). A Triton client that
        // clears every setting, as Triton's own tests do, gets the same answer.
        using (var cleared = await PostAsync("/v2/models/simple/trace/setting", """{"trace_level":null,"trace_rate":null,"trace_count":null,"log_frequency":null}"""))
        {
            Assert.Equal(HttpStatusCode.OK, cleared.StatusCode);
            var body = JsonNode.Parse(await cleared.Content.ReadAsStringAsync())!;
            Assert.Equal("TIMESTAMPS", (string)body["trace_level"]![0]!);
            Assert.Equal("3", (string)body["trace_rate"]!);
        }
        Assert.Equal("TIMESTAMPS|3|triton", Settings(await _grpc.TraceSettingAsync(new TraceSettingRequest { ModelName = "simple" })));
        Assert.Equal("--+", await TracedAsync("simple", 3));

        // The model follows later global changes again.
        await _grpc.TraceSettingAsync(Request(null, ("trace_level", ["OFF"])));
        Assert.Equal("OFF|3|triton", Settings(await _grpc.TraceSettingAsync(new TraceSettingRequest { ModelName = "simple" })));

        // Clearing a global setting returns it to its start-up value (Triton's default rate, 1000).
        using (var global = await PostAsync("/v2/trace/setting", """{"trace_rate":null}"""))
        {
            Assert.Equal(HttpStatusCode.OK, global.StatusCode);
            Assert.Equal("1000", (string)JsonNode.Parse(await global.Content.ReadAsStringAsync())!["trace_rate"]!);
        }

        // Over HTTP, too, only level and rate change: a value for trace_count or a trace file is refused.
        foreach (var body in new[] { """{"trace_count":"5"}""", """{"trace_file":"/tmp/t.json"}""", """{"trace_file":null}""", """[1]""", """{"trace_rate":{"a":1}}""" })
        {
            using var refused = await PostAsync("/v2/models/simple/trace/setting", body);
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        }
    }

    private static TraceSettingRequest Request(string? model, params (string Name, string[] Values)[] settings)
    {
        var request = new TraceSettingRequest { ModelName = model ?? "" };
        foreach (var (name, values) in settings)
        {
            request.Settings[name] = new TraceSettingRequest.Types.SettingValue { Value = { values } };
        }
        return request;
    }

    /// <summary>Level, rate and mode, as "LEVEL|rate|mode".</summary>
    private static string Settings(TraceSettingResponse response) =>
        string.Join('|', new[] { "trace_level", "trace_rate", "trace_mode" }.Select(name => string.Join(',', response.Settings[name].Value)));

    private Task<HttpResponseMessage> PostAsync(string path, string json) =>
        _http.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));

    /// <summary>Sends <paramref name="count"/> gRPC requests one after another, each under a trace
    /// id of its own, and says which of them were traced: '+' traced, '-' not, in order. The request span ends before the gRPC
    /// answer is returned, so by then every span there will be has been exported.</summary>
    private async Task<string> TracedAsync(string model, int count)
    {
        var traced = new bool[count];
        for (var i = 0; i < count; i++)
        {
            var traceId = ActivityTraceId.CreateRandom();
            var request = new ModelInferRequest { ModelName = model };
            foreach (var input in Samples.Sample(model, 0)["inputs"]!.AsArray())
            {
                var tensor = new ModelInferRequest.Types.InferInputTensor { Name = (string)input!["name"]!, Datatype = (string)input["datatype"]!, Contents = new InferTensorContents() };
                tensor.Shape.AddRange(input["shape"]!.AsArray().Select(dimension => (long)dimension!));
                var values = input["data"]!.AsArray().Select(value => (double)value!).ToList();
                switch (tensor.Datatype)
                {
                    case "INT32":
                        tensor.Contents.IntContents.AddRange(values.Select(value => (int)value));
                        break;
                    case "FP32":
                        tensor.Contents.Fp32Contents.AddRange(values.Select(value => (float)value));
                        break;
                    default:
                        throw new InvalidOperationException($"sample datatype {tensor.Datatype}");
                }
                request.Inputs.Add(tensor);
            }
            await _grpc.ModelInferAsync(request, new Metadata { { "traceparent", $"00-{traceId}-{ActivitySpanId.CreateRandom()}-01" } });
            lock (_spans)
            {
                traced[i] = _spans.Any(span => span.TraceId == traceId && span.DisplayName == "infer");
            }
        }
        return string.Concat(traced.Select(yes => yes ? '+' : '-'));
    }

    private sealed class ListExporter(List<Activity> spans) : BaseExporter<Activity>
    {
        public override ExportResult Export(in Batch<Activity> batch)
        {
            lock (spans)
            {
                foreach (var span in batch)
                {
                    spans.Add(span);
                }
            }
            return ExportResult.Success;
        }
    }
}
