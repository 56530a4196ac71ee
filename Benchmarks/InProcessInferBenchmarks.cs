using System.Buffers;
using System.Text;
using BenchmarkDotNet.Attributes;
using Fabrik.Models;
using Fabrik.Observability.Metrics;
using Fabrik.Protocol.Http;
using Fabrik.Tensors;

namespace Fabrik.Benchmarks;

/// <summary>
/// The request path without sockets, on the sample model `simple`: JSON decode into pooled
/// buffers, the scheduler and ONNX Runtime, and the JSON encode. Decode alone is the baseline, so
/// the ratios show what each further stage costs.
/// </summary>
[MemoryDiagnoser]
public class InProcessInferBenchmarks
{
    private const string Request = """
        {"id":"bench","inputs":[
        {"name":"INPUT0","datatype":"INT32","shape":[1,16],"data":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]},
        {"name":"INPUT1","datatype":"INT32","shape":[1,16],"data":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}]}
        """;

    private readonly TensorMemoryPool _pool = new();
    private readonly ArrayBufferWriter<byte> _responseBody = new(4096);
    private ReadOnlySequence<byte> _requestBody;
    private readonly FabrikMeter _meter = new();
    private LoadedModel _model = null!;
    private LoadedModel _measured = null!;
    private PrometheusExporter _exporter = null!;

    [GlobalSetup]
    public void Setup()
    {
        _model = BenchmarkModels.Load("simple", _pool);
        // The same model recording into the metrics endpoint's instruments (default settings:
        // the histograms), with the Prometheus exporter listening as it does in the server.
        var settings = new MetricsSettings();
        var metrics = new InferenceMetrics(_meter, settings);
        _exporter = new PrometheusExporter(_meter, settings);
        _measured = BenchmarkModels.Load("simple", _pool, metrics: metrics);
        _requestBody = new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(Request));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _model.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _measured.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _exporter.Dispose();
        _meter.Dispose();
    }

    [Benchmark(Baseline = true)]
    public int DecodeJson()
    {
        using var request = JsonInferenceRequestReader.Read(_requestBody, null, _model, _pool, CancellationToken.None);
        return request.BatchSize;
    }

    [Benchmark]
    public async Task<int> DecodeInferEncodeJson()
    {
        using var request = JsonInferenceRequestReader.Read(_requestBody, null, _model, _pool, CancellationToken.None);
        using var response = await _model.Scheduler.InferAsync(request);
        _responseBody.ResetWrittenCount();
        JsonInferenceResponseWriter.Write(_responseBody, _model, request, response);
        return _responseBody.WrittenCount;
    }

    /// <summary>The same path with metrics on: the histograms each request records.</summary>
    [Benchmark]
    public async Task<int> DecodeInferEncodeJsonWithMetrics()
    {
        using var request = JsonInferenceRequestReader.Read(_requestBody, null, _measured, _pool, CancellationToken.None);
        using var response = await _measured.Scheduler.InferAsync(request);
        _responseBody.ResetWrittenCount();
        JsonInferenceResponseWriter.Write(_responseBody, _measured, request, response);
        return _responseBody.WrittenCount;
    }
}
