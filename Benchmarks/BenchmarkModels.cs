using System.Collections.Immutable;
using Fabrik.Configuration;
using Fabrik.Devices;
using Fabrik.Execution;
using Fabrik.Models;
using Fabrik.Observability.Metrics;
using Fabrik.Tensors;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fabrik.Benchmarks;

/// <summary>Models for the benchmarks: the committed samples on real ONNX Runtime sessions, and
/// codec-only models whose scheduler has no instance (the codecs never reach it).</summary>
internal static class BenchmarkModels
{
    public static string RepositoryRoot { get; } = FindRoot();

    /// <summary>A sample model from models/, loaded on the CPU with one instance.</summary>
    /// <param name="name">The sample model's folder name.</param>
    /// <param name="pool">The tensor pool.</param>
    /// <param name="instance">An instance to use instead of ONNX Runtime.</param>
    /// <param name="metrics">Metrics its statistics record into, or null for none.</param>
    public static LoadedModel Load(string name, TensorMemoryPool pool, IModelInstance? instance = null, InferenceMetrics? metrics = null)
    {
        var directory = Path.Combine(RepositoryRoot, "models", name);
        var config = ModelConfigReader.Parse(File.ReadAllText(Path.Combine(directory, "config.pbtxt")), name);
        var backend = BackendRegistry.Default.Resolve(config);
        var instances = instance is null
            ? ModelInstanceFactory.CreateInstances(config, backend, ModelInstanceFactory.ModelFilePath(config, backend, Path.Combine(directory, "1")), pool, [InstanceDevice.Cpu])
            : [instance];
        return Wrap(config, instances, pool, metrics);
    }

    /// <summary>A one-input, one-output model of <paramref name="type"/> with dims [-1] and no
    /// batching, for codec benchmarks.</summary>
    public static LoadedModel Codec(DataType type, TensorMemoryPool pool)
    {
        var config = new ModelConfig
        {
            Name = "codec",
            Platform = "onnxruntime_onnx",
            Inputs = [new TensorConfig("INPUT0", type, ImmutableArray.Create(-1L))],
            Outputs = [new TensorConfig("OUTPUT0", type, ImmutableArray.Create(-1L))],
        };
        return Wrap(config, [], pool);
    }

    private static LoadedModel Wrap(ModelConfig config, IModelInstance[] instances, TensorMemoryPool pool, InferenceMetrics? metrics = null) =>
        LoadedModel.Create(config, 1, instances, pool, TimeProvider.System, NullLoggerFactory.Instance, metrics: metrics);

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Fabrik.slnx")))
            {
                return directory.FullName;
            }
        }
        throw new InvalidOperationException("run the benchmarks from inside the Fabrik checkout");
    }
}

/// <summary>An instance that answers at once with a copy of its first input: the scheduler's own
/// cost, without a model.</summary>
internal sealed class EchoInstance(TensorMemoryPool pool) : IModelInstance
{
    public string Device => "echo";

    public TensorBuffer[] Run(TensorBuffer?[] inputs, ref ExecutionTimings timings, TimeSpan? timeLeft)
    {
        var input = inputs[0]!;
        var output = new TensorBuffer(pool, input.DataType, input.Shape, input.ElementCount, input.ByteLength);
        input.Bytes.CopyTo(output.Bytes);
        return [output];
    }

    public void Dispose()
    {
    }
}
