using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Fabrik.Protocol.Triton;
using Xunit;

namespace Fabrik.Tests.Observability;

/// <summary>Triton's trace mode: <c>--trace-config triton,file=PATH</c> writes each traced request
/// as Triton's JSON trace records, with its timestamps in monotonic nanoseconds.</summary>
public sealed class TritonTraceFileTests : IDisposable
{
    private static readonly string[] Timestamps =
        ["REQUEST_START", "QUEUE_START", "COMPUTE_START", "COMPUTE_INPUT_END", "COMPUTE_OUTPUT_START", "COMPUTE_END", "REQUEST_END"];

    private readonly string _directory = Directory.CreateTempSubdirectory("fabrik-trace-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task TritonMode_TracedRequests_AreWrittenAsTritonsJsonRecords()
    {
        var path = Path.Combine(_directory, "trace.json");
        var before = MonotonicNanoseconds();
        await using (var host = await InMemoryFabrik.StartAsync("--model-repository", RepositoryLayout.Models,
                         "--trace-config", "mode=triton", "--trace-config", $"triton,file={path}",
                         "--trace-config", "level=TIMESTAMPS", "--trace-config", "rate=1"))
        {
            using var http = host.CreateHttpClient();
            var settings = JsonNode.Parse(await http.GetStringAsync("/v2/trace/setting"))!;
            Assert.Equal("triton", (string)settings["trace_mode"]!);
            Assert.Null(settings["trace_file"]); // the server's paths are not told to the network

            foreach (var model in new[] { "simple", "mlp" })
            {
                var body = new JsonObject { ["inputs"] = Samples.Sample(model, 0)["inputs"]!.DeepClone() }.ToJsonString();
                using var response = await http.PostAsync($"/v2/models/{model}/infer", new StringContent(body, Encoding.UTF8, "application/json"));
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }
            // Refused before it is queued: traced, but with no queue or compute timestamps.
            using (var invalid = await http.PostAsync("/v2/models/simple/infer", new StringContent("""{"inputs":[]}""", Encoding.UTF8, "application/json")))
            {
                Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);
            }
            // gRPC requests are traced too; one in two once the rate changes at run time.
            using var channel = host.CreateGrpcChannel();
            var grpc = new GRPCInferenceService.GRPCInferenceServiceClient(channel);
            await grpc.TraceSettingAsync(new TraceSettingRequest { Settings = { ["trace_rate"] = new TraceSettingRequest.Types.SettingValue { Value = { "2" } } } });
            for (var i = 0; i < 2; i++)
            {
                var request = new ModelInferRequest { ModelName = "simple" };
                foreach (var name in new[] { "INPUT0", "INPUT1" })
                {
                    var input = new ModelInferRequest.Types.InferInputTensor { Name = name, Datatype = "INT32", Shape = { 1, 16 }, Contents = new InferTensorContents() };
                    input.Contents.IntContents.AddRange(Enumerable.Range(0, 16));
                    request.Inputs.Add(input);
                }
                await grpc.ModelInferAsync(request);
            }
        }
        var after = MonotonicNanoseconds();

        // The server has stopped: the file is one complete JSON array.
        var records = JsonNode.Parse(await File.ReadAllTextAsync(path))!.AsArray();
        var traces = records.GroupBy(record => (long)record!["id"]!).OrderBy(group => group.Key).ToList();
        Assert.Equal([1L, 2L, 3L, 4L], traces.Select(trace => trace.Key));
        Assert.Equal(["simple", "mlp", "simple", "simple"], traces.Select(trace => (string)trace.First()!["model_name"]!));
        Assert.All(traces, trace => Assert.Equal(1L, (long)trace.First()!["model_version"]!));

        foreach (var trace in traces)
        {
            var stamps = trace.Skip(1).Select(record => Assert.Single(record!["timestamps"]!.AsArray())!).ToList();
            var names = stamps.Select(stamp => (string)stamp["name"]!).ToArray();
            Assert.Equal(trace.Key == 3 ? ["REQUEST_START", "REQUEST_END"] : Timestamps, names);
            var nanoseconds = stamps.Select(stamp => (long)stamp["ns"]!).ToArray();
            // Each event follows the one before it, all within the test's own reading of the monotonic clock.
            Assert.Equal(nanoseconds.Order(), nanoseconds);
            Assert.InRange(nanoseconds[0], before, after);
            Assert.InRange(nanoseconds[^1], before, after);
        }
    }

    private static long MonotonicNanoseconds() => (long)(Stopwatch.GetTimestamp() * (1e9 / Stopwatch.Frequency));
}
