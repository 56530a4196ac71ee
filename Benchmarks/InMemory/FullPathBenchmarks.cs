using System.Text;
using BenchmarkDotNet.Attributes;
using Fabrik.Protocol.Triton;
using Fabrik.Testing;
using Google.Protobuf;
using Grpc.Net.Client;

namespace Fabrik.Benchmarks.InMemory;

/// <summary>
/// One inference through the whole server on the in-memory host, on the sample model `simple`:
/// routing, the model lease, decode, the scheduler and ONNX Runtime, encode, error mapping and
/// the binary and gRPC framing. What it leaves out is Kestrel and the loopback socket. The bytes
/// allocated include the in-memory client's own request and response objects, so the budget
/// guards against growth rather than stating the server's share.
/// </summary>
[MemoryDiagnoser]
public class FullPathBenchmarks
{
    private const string JsonRequest = """
        {"inputs":[
        {"name":"INPUT0","datatype":"INT32","shape":[1,16],"data":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]},
        {"name":"INPUT1","datatype":"INT32","shape":[1,16],"data":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}]}
        """;

    private readonly byte[] _jsonBody = Encoding.UTF8.GetBytes(JsonRequest);
    private InMemoryFabrik _server = null!;
    private HttpClient _http = null!;
    private GrpcChannel _channel = null!;
    private GRPCInferenceService.GRPCInferenceServiceClient _grpc = null!;
    private ModelInferRequest _grpcRequest = null!;

    [GlobalSetup]
    public void Setup()
    {
        _server = InMemoryFabrik.StartAsync("--model-repository", Path.Combine(BenchmarkModels.RepositoryRoot, "models"), "--model-control-mode=explicit", "--load-model=simple")
            .GetAwaiter().GetResult();
        _http = _server.CreateHttpClient();
        _channel = _server.CreateGrpcChannel();
        _grpc = new GRPCInferenceService.GRPCInferenceServiceClient(_channel);
        var input0 = new byte[64];
        var input1 = new byte[64];
        for (var i = 0; i < 16; i++)
        {
            BitConverter.TryWriteBytes(input0.AsSpan(i * 4), i);
            BitConverter.TryWriteBytes(input1.AsSpan(i * 4), 1);
        }
        _grpcRequest = new ModelInferRequest { ModelName = "simple" };
        foreach (var name in new[] { "INPUT0", "INPUT1" })
        {
            _grpcRequest.Inputs.Add(new ModelInferRequest.Types.InferInputTensor { Name = name, Datatype = "INT32", Shape = { 1, 16 } });
        }
        _grpcRequest.RawInputContents.Add(ByteString.CopyFrom(input0));
        _grpcRequest.RawInputContents.Add(ByteString.CopyFrom(input1));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _http.Dispose();
        _channel.Dispose();
        _server.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    [Benchmark(Baseline = true)]
    public async Task<long> HttpJson()
    {
        using var content = new ByteArrayContent(_jsonBody);
        using var response = await _http.PostAsync("/v2/models/simple/infer", content);
        var body = await response.Content.ReadAsByteArrayAsync();
        return response.IsSuccessStatusCode ? body.Length : throw new InvalidOperationException($"HTTP {(int)response.StatusCode}");
    }

    [Benchmark]
    public async Task<int> Grpc()
    {
        var response = await _grpc.ModelInferAsync(_grpcRequest);
        return response.RawOutputContents.Count;
    }
}
