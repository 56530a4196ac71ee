using System.Collections.Immutable;
using BenchmarkDotNet.Attributes;
using Fabrik.Configuration;
using Fabrik.Inference;
using Fabrik.Models;
using Fabrik.Scheduling;
using Fabrik.Tensors;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fabrik.Benchmarks;

/// <summary>
/// The scheduler's own costs: a request through the queue to an instance that answers at once
/// (enqueue, dequeue, complete), and gathering 8 one-row requests into a batch and scattering the
/// outputs back.
/// </summary>
[MemoryDiagnoser]
public class SchedulingBenchmarks
{
    private readonly TensorMemoryPool _pool = new();
    private readonly List<PendingRequest> _batch = [];
    private LoadedModel _model = null!;
    private InferenceRequest _request = null!;
    private TensorBuffer[] _outputs = null!;

    [GlobalSetup]
    public void Setup()
    {
        var config = new ModelConfig
        {
            Name = "echo",
            Platform = "onnxruntime_onnx",
            MaxBatchSize = 8,
            Inputs = [new TensorConfig("INPUT0", DataType.Fp32, ImmutableArray.Create(16L))],
            Outputs = [new TensorConfig("OUTPUT0", DataType.Fp32, ImmutableArray.Create(16L))],
        };
        _model = LoadedModel.Create(config, 1, [new EchoInstance(_pool)], _pool, TimeProvider.System, NullLoggerFactory.Instance);
        _request = new InferenceRequest([new TensorBuffer(_pool, DataType.Fp32, [1, 16], 16, 64)], 1);
        for (var i = 0; i < 8; i++)
        {
            _batch.Add(new PendingRequest(new InferenceRequest([new TensorBuffer(_pool, DataType.Fp32, [1, 16], 16, 64)], 1), 0, i));
        }
        _outputs = [new TensorBuffer(_pool, DataType.Fp32, [8, 16], 128, 512)];
    }

    [GlobalCleanup]
    public void Cleanup() => _model.DisposeAsync().AsTask().GetAwaiter().GetResult();

    [Benchmark(Baseline = true)]
    public async Task<int> QueueToInstanceAndBack()
    {
        using var response = await _model.Scheduler.InferAsync(_request);
        return response.Outputs.Length;
    }

    [Benchmark]
    public int GatherAndScatter8()
    {
        var gathered = BatchAssembler.Gather(_batch, 8, _pool);
        var split = BatchAssembler.Scatter(_outputs, _batch, 8, _pool, "echo");
        BatchAssembler.Dispose(gathered);
        foreach (var outputs in split)
        {
            BatchAssembler.Dispose(outputs);
        }
        return split.Length;
    }
}
