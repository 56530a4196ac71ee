using BenchmarkDotNet.Attributes;
using Fabrik.Configuration;
using Fabrik.Devices;
using Fabrik.Execution;
using Fabrik.Tensors;

namespace Fabrik.Benchmarks;

/// <summary>ONNX Runtime's Run on `mlp`, per batch size, through Fabrik's instance (OrtValues over
/// pinned pooled buffers, outputs copied once into pooled buffers).</summary>
[MemoryDiagnoser]
public class OnnxRuntimeBenchmarks
{
    private readonly TensorMemoryPool _pool = new();
    private IModelInstance _instance = null!;
    private TensorBuffer?[] _inputs = null!;

    [Params(1, 8, 32)]
    public int BatchSize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var directory = Path.Combine(BenchmarkModels.RepositoryRoot, "models", "mlp");
        var config = ModelConfigReader.Parse(File.ReadAllText(Path.Combine(directory, "config.pbtxt")), "mlp");
        var backend = BackendRegistry.Default.Resolve(config);
        _instance = ModelInstanceFactory.CreateInstances(config, backend, ModelInstanceFactory.ModelFilePath(config, backend, Path.Combine(directory, "1")), _pool, [InstanceDevice.Cpu])[0];
        var input = new TensorBuffer(_pool, DataType.Fp32, [BatchSize, 16], BatchSize * 16, BatchSize * 64);
        var values = input.As<float>();
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = (i % 13) / 13f;
        }
        _inputs = [input];
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _inputs[0]!.Dispose();
        _instance.Dispose();
    }

    [Benchmark]
    public int Run()
    {
        var timings = default(ExecutionTimings);
        var outputs = _instance.Run(_inputs, ref timings, timeLeft: null);
        foreach (var output in outputs)
        {
            output.Dispose();
        }
        return outputs.Length;
    }
}
