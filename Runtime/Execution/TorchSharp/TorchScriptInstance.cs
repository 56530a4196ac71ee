using System.Collections;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Fabrik.Configuration;
using Fabrik.Devices;
using Fabrik.Errors;
using Fabrik.Native.LibTorch;
using Fabrik.Tensors;
using TorchSharp;
using static TorchSharp.torch;

namespace Fabrik.Execution.TorchSharp;

/// <summary>
/// A TorchScript module loaded through TorchSharp (libtorch) on the CPU or cuda:N. Inputs are
/// libtorch views of the request's pooled buffers (no copy on the CPU, one copy to a GPU);
/// outputs are copied once into pooled buffers. Inputs follow Triton's
/// pytorch backend: the configuration's inputs are forward's arguments in order, and the
/// configuration's outputs are the elements of forward's result (a tensor or a tuple/list).
/// </summary>
/// <remarks>Not thread-safe: the scheduler runs one batch at a time on each instance. Each run
/// happens inside inference mode and a dispose scope, so no tensor outlives its run.</remarks>
internal sealed class TorchScriptInstance : IModelInstance
{
    private readonly jit.ScriptModule _module;
    private readonly ModelConfig _config;
    private readonly TensorMemoryPool _pool;
    private readonly Device _device;
    private readonly int[] _argumentPositions;

    public TorchScriptInstance(ModelConfig config, string modelPath, TensorMemoryPool pool, InstanceDevice device)
    {
        foreach (var tensor in config.Inputs.Concat(config.Outputs))
        {
            if (!TryScalarType(tensor.DataType, out _))
            {
                throw new InvalidOperationException(
                    $"'{tensor.Name}' is {tensor.DataType.ConfigName()}, which the pytorch_libtorch backend does not support");
            }
        }
        _config = config;
        _pool = pool;
        _argumentPositions = ArgumentPositions(config);
        _device = device.GpuIndex is { } gpu ? new Device(DeviceType.CUDA, gpu) : CPU;
        try
        {
            _module = jit.load(modelPath, _device.type, _device.index);
        }
        catch (ExternalException e)
        {
            throw TorchScriptLoadFailure.Describe(modelPath, e);
        }
        _module.eval();
        Device = device.ToString();
    }

    public string Device { get; }

    // TorchSharp has no way to stop a running forward call, so timeLeft is not used: a run
    // always finishes, and the scheduler answers the requests once it does.
    public TensorBuffer[] Run(TensorBuffer?[] inputs, ref ExecutionTimings timings, TimeSpan? timeLeft)
    {
        var start = Stopwatch.GetTimestamp();
        using var inference = inference_mode();
        using var scope = NewDisposeScope();
        var arguments = new object[inputs.Length];
        for (var i = 0; i < inputs.Length; i++)
        {
            var position = _argumentPositions[i];
            var input = inputs[i] ?? throw InferenceException.InvalidArgument(
                $"input '{_config.Inputs[i].Name}' is required by the TorchScript model '{_config.Name}'");
            TryScalarType(input.DataType, out var scalarType);
            var tensor = InputTensor(input, _config.Inputs[i].MapShape(input.Shape, _config.MaxBatchSize > 0, toBackend: true), scalarType);
            arguments[position] = _device.type == DeviceType.CPU ? tensor : tensor.to(_device);
        }

        var inputsReady = Stopwatch.GetTimestamp();
        object result;
        try
        {
            result = _module.forward(arguments);
        }
        catch (ExternalException e)
        {
            // libtorch's own failure: the request's data (400) or the runtime's (500).
            throw TorchScriptRunFailure.Classify(_config.Name, e.Message, e);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            throw new InferenceException(ErrorKind.Internal, $"TorchScript model '{_config.Name}' failed: {LibTorchMessage(e.Message)}", e);
        }

        var inferred = Stopwatch.GetTimestamp();
        var tensors = Flatten(result);
        if (tensors.Count < _config.Outputs.Length)
        {
            throw new InferenceException(ErrorKind.Internal,
                $"TorchScript model '{_config.Name}' returned {tensors.Count} tensors but the config declares {_config.Outputs.Length} outputs");
        }

        var outputs = new TensorBuffer[_config.Outputs.Length];
        for (var i = 0; i < outputs.Length; i++)
        {
            outputs[i] = CopyOutput(tensors[i], _config.Outputs[i], outputs.AsSpan(0, i));
        }
        timings.InputTicks = inputsReady - start;
        timings.InferTicks = inferred - inputsReady;
        timings.OutputTicks = Stopwatch.GetTimestamp() - inferred;
        return outputs;
    }

    /// <summary>
    /// A CPU tensor over the request's pinned, pooled buffer (libtorch's from_blob: no copy). The
    /// buffer outlives the tensor: the run's dispose scope frees every tensor before Run returns,
    /// and the caller owns the inputs until then. Copies only where LibTorchSharp cannot wrap.
    /// </summary>
    private static Tensor InputTensor(TensorBuffer input, long[] shape, ScalarType scalarType)
    {
        var handle = input.ByteLength == 0 ? IntPtr.Zero : HostTensors.Wrap(input.Pointer, shape, (sbyte)scalarType);
        if (handle != IntPtr.Zero)
        {
            return Tensor.UnsafeCreateTensor(handle);
        }
        var copy = empty(shape, scalarType);
        copy.bytes = input.Bytes;
        return copy;
    }

    private TensorBuffer CopyOutput(Tensor tensor, TensorConfig config, Span<TensorBuffer> alreadyCopied)
    {
        TryScalarType(config.DataType, out var expected);
        if (tensor.dtype != expected)
        {
            foreach (var copied in alreadyCopied)
            {
                copied.Dispose();
            }
            throw new InferenceException(ErrorKind.Internal,
                $"output '{config.Name}' of '{_config.Name}' is {tensor.dtype} but the config declares {config.DataType.ConfigName()}");
        }
        var contiguous = tensor.device_type == DeviceType.CPU ? tensor.contiguous() : tensor.cpu().contiguous();
        var source = contiguous.bytes;
        var shape = config.MapShape(contiguous.shape, _config.MaxBatchSize > 0, toBackend: false);
        var buffer = new TensorBuffer(_pool, config.DataType, shape, contiguous.numel(), source.Length);
        source.CopyTo(buffer.Bytes);
        return buffer;
    }

    /// <summary>
    /// forward's argument for each configured input: Triton's convention names inputs
    /// <c>&lt;name&gt;__&lt;index&gt;</c> (INPUT__0, INPUT__1, ...), and the index is the argument
    /// position whatever the order in config.pbtxt; inputs named otherwise take their position in
    /// the configuration.
    /// </summary>
    internal static int[] ArgumentPositions(ModelConfig config)
    {
        var positions = new int[config.Inputs.Length];
        for (var i = 0; i < positions.Length; i++)
        {
            var name = config.Inputs[i].Name;
            var marker = name.LastIndexOf("__", StringComparison.Ordinal);
            positions[i] = marker >= 0 && int.TryParse(name.AsSpan(marker + 2), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var index)
                ? index
                : i;
        }
        var sorted = positions.Order().ToArray();
        for (var i = 0; i < sorted.Length; i++)
        {
            if (sorted[i] != i)
            {
                throw new InvalidOperationException(
                    $"the inputs' __<index> suffixes ({string.Join(", ", config.Inputs.Select(input => input.Name))}) must number forward's arguments 0 to {positions.Length - 1} once each");
            }
        }
        return positions;
    }

    /// <summary>libtorch appends a C++ stack trace to its messages; keep the sentence before it.</summary>
    internal static string LibTorchMessage(string message)
    {
        var trace = message.IndexOf("Exception raised from", StringComparison.Ordinal);
        return (trace > 0 ? message[..trace] : message).Trim();
    }

    private static List<Tensor> Flatten(object result)
    {
        var tensors = new List<Tensor>();
        Add(result);
        return tensors;

        void Add(object? item)
        {
            switch (item)
            {
                case Tensor tensor:
                    tensors.Add(tensor);
                    break;
                case ITuple tuple:
                    for (var i = 0; i < tuple.Length; i++)
                    {
                        Add(tuple[i]);
                    }
                    break;
                case IEnumerable sequence:
                    foreach (var element in sequence)
                    {
                        Add(element);
                    }
                    break;
                default:
                    throw new InferenceException(ErrorKind.Internal, $"TorchScript returned an unsupported value of type {item?.GetType().Name ?? "null"}");
            }
        }
    }

    private static bool TryScalarType(DataType type, out ScalarType scalarType)
    {
        (var ok, scalarType) = type switch
        {
            DataType.Bool => (true, ScalarType.Bool),
            DataType.UInt8 => (true, ScalarType.Byte),
            DataType.Int8 => (true, ScalarType.Int8),
            DataType.Int16 => (true, ScalarType.Int16),
            DataType.Int32 => (true, ScalarType.Int32),
            DataType.Int64 => (true, ScalarType.Int64),
            DataType.Fp16 => (true, ScalarType.Float16),
            DataType.Bf16 => (true, ScalarType.BFloat16),
            DataType.Fp32 => (true, ScalarType.Float32),
            DataType.Fp64 => (true, ScalarType.Float64),
            _ => (false, default),
        };
        return ok;
    }

    public void Dispose() => _module.Dispose();
}
