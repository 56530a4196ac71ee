using System.Collections.Concurrent;
using System.Globalization;
using Fabrik.Configuration;
using Fabrik.Devices;
using Fabrik.Execution;
using Fabrik.Execution.Pipeline;
using Fabrik.Tensors;

namespace Fabrik.Testing.SimulatedDevice;

/// <summary>
/// The simulated device as a backend (platform and backend <c>simulated_device</c>, model file
/// <c>model.sim</c>, whose contents are not read), so the GPU pipeline is built, tested and
/// measured through the real server on machines without a GPU. Only the tests and the benchmarks
/// register it (<see cref="BackendRegistration"/>); the server's own registry never holds it.
/// A model's inputs must be FP32 or INT32 with a fixed size per row, and output i must match input i
/// (it is input i plus one); the speed comes from <see cref="SimulatedDeviceSettings"/>.
/// </summary>
internal sealed class SimulatedDeviceBackend : IModelBackend
{
    private readonly ConcurrentQueue<SimulatedDeviceInstance> _instances = new();
    private int _created;

    public string Name => "simulated_device";

    public IReadOnlyList<string> Platforms { get; } = ["simulated_device"];

    public string DefaultModelFileName => "model.sim";

    public int DefaultCpuInstanceCount => 1;

    public string? NoGpuReason => "the simulated device stands in for a GPU and runs as KIND_CPU instances";

    /// <summary>Every instance made so far, in order (a benchmark reads their busy time).</summary>
    public IReadOnlyList<SimulatedDeviceInstance> Instances => [.. _instances];

    public string? ConfigProblem(ModelConfig config)
    {
        if (SimulatedDeviceSettings.Problem(config) is { } problem)
        {
            return problem;
        }
        if (StagingLayout.For(config, out var reason) is null)
        {
            return $"the simulated device cannot stage this model: {reason}";
        }
        if (config.Inputs.Any(input => input.DataType is not (DataType.Fp32 or DataType.Int32)))
        {
            return "the simulated device computes FP32 and INT32 only";
        }
        var matched = config.Inputs.Length == config.Outputs.Length && config.Inputs.Zip(config.Outputs)
            .All(pair => pair.First.DataType == pair.Second.DataType && pair.First.Dims.SequenceEqual(pair.Second.Dims));
        return matched ? null : "each output of the simulated device must have its input's datatype and dims";
    }

    public ModelConfig AutoComplete(ModelConfig config, string modelPath) => config;

    public IReadOnlyList<string> ReferencedFiles(string modelPath) => [];

    public IModelInstance CreateInstance(ModelConfig config, string modelPath, TensorMemoryPool pool, InstanceDevice device, int instanceCount)
    {
        var layout = StagingLayout.For(config, out var reason) ?? throw new InvalidOperationException(reason);
        var number = Interlocked.Increment(ref _created) - 1;
        var instance = new SimulatedDeviceInstance(config, layout, SimulatedDeviceSettings.From(config), pool,
            string.Create(CultureInfo.InvariantCulture, $"simulated device {number}"));
        _instances.Enqueue(instance);
        return instance;
    }
}
