using System.Buffers.Binary;
using System.Diagnostics;
using Fabrik.Devices;
using Fabrik.Models.Configuration;
using Fabrik.Observability;
using Fabrik.Protocol;
using Fabrik.Tensors;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SessionOptions = Microsoft.ML.OnnxRuntime.SessionOptions;

namespace Fabrik.Execution.OnnxRuntime;

/// <summary>
/// An ONNX Runtime session on the CPU. Inputs are wrapped in place as OrtValues over the pinned
/// request buffers (no copy); outputs are copied once into pooled buffers.
/// </summary>
/// <remarks>Not thread-safe: the scheduler runs one batch at a time on each instance.</remarks>
internal sealed class OnnxRuntimeInstance : IModelInstance
{
    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions = new();
    private readonly ModelConfig _config;
    private readonly TensorMemoryPool _pool;
    private readonly string[] _inputNames;
    private readonly string[] _outputNames;

    public OnnxRuntimeInstance(ModelConfig config, string modelPath, TensorMemoryPool pool, OnnxRuntimeSettings settings, InstanceDevice device)
    {
        _config = config;
        _pool = pool;
        using var options = settings.CreateSessionOptions();
        using var providers = new GpuProviders();
        if (device.GpuIndex is { } gpu)
        {
            try
            {
                providers.Append(options, config, gpu);
            }
            catch (Exception e) when (e is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException)
            {
                throw new InvalidOperationException($"the CUDA execution provider for GPU {gpu} could not be loaded: {e.Message}", e);
            }
        }
        _session = new InferenceSession(modelPath, options);
        try
        {
            ValidateAgainstSession(config, _session);
        }
        catch
        {
            _session.Dispose();
            throw;
        }
        _inputNames = config.Inputs.Select(input => input.Name).ToArray();
        _outputNames = config.Outputs.Select(output => output.Name).ToArray();
        Device = device.ToString();
    }

    public string Device { get; }

    public TensorBuffer[] Run(TensorBuffer?[] inputs, ref ExecutionTimings timings)
    {
        var start = Stopwatch.GetTimestamp();
        var names = _inputNames;
        var values = new OrtValue[inputs.Length];
        var count = 0;
        try
        {
            for (var i = 0; i < inputs.Length; i++)
            {
                if (inputs[i] is { } input)
                {
                    values[count++] = CreateInputValue(input, _config.Inputs[i].MapShape(input.Shape, _config.MaxBatchSize > 0, toBackend: true));
                }
            }
            if (count != inputs.Length)
            {
                // Optional inputs were omitted: pass only the names of those present.
                names = _inputNames.Where((_, i) => inputs[i] is not null).ToArray();
                values = values[..count];
            }
            var inputsReady = Stopwatch.GetTimestamp();
            using var results = _session.Run(_runOptions, names, values, _outputNames);
            var inferred = Stopwatch.GetTimestamp();
            timings.InputTicks = inputsReady - start;
            timings.InferTicks = inferred - inputsReady;
            var outputs = new TensorBuffer[_outputNames.Length];
            var index = 0;
            try
            {
                foreach (var result in results)
                {
                    outputs[index] = CopyOutput(result, _config.Outputs[index]);
                    index++;
                }
            }
            catch
            {
                for (var i = 0; i < index; i++)
                {
                    outputs[i].Dispose();
                }
                throw;
            }
            timings.OutputTicks = Stopwatch.GetTimestamp() - inferred;
            return outputs;
        }
        catch (OnnxRuntimeException e)
        {
            throw new InferenceException(ErrorKind.Internal, $"onnxruntime failed on model '{_config.Name}': {e.Message}", e);
        }
        finally
        {
            for (var i = 0; i < count; i++)
            {
                values[i]?.Dispose();
            }
        }
    }

    private static OrtValue CreateInputValue(TensorBuffer input, long[] shape)
    {
        if (input.DataType != DataType.Bytes)
        {
            return OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, ElementType(input.DataType), shape, input.Pointer, input.ByteLength);
        }
        var value = OrtValue.CreateTensorWithEmptyStrings(OrtAllocator.DefaultInstance, shape);
        var index = 0;
        foreach (var element in input.BytesElements())
        {
            value.StringTensorSetElementAt(element, index++);
        }
        return value;
    }

    private TensorBuffer CopyOutput(OrtValue value, TensorConfig config)
    {
        var info = value.GetTensorTypeAndShape();
        var shape = config.MapShape(info.Shape, _config.MaxBatchSize > 0, toBackend: false);
        var elementCount = info.ElementCount;
        if (config.DataType != DataType.Bytes)
        {
            var source = value.GetTensorMutableRawData();
            var buffer = new TensorBuffer(_pool, config.DataType, shape, elementCount, source.Length);
            source.CopyTo(buffer.Bytes);
            return buffer;
        }

        long total = 0;
        for (var i = 0; i < elementCount; i++)
        {
            total += 4 + value.GetStringElementAsSpan(i).Length;
        }
        var strings = new TensorBuffer(_pool, DataType.Bytes, shape, elementCount, total);
        var destination = strings.Bytes;
        for (var i = 0; i < elementCount; i++)
        {
            var element = value.GetStringElementAsSpan(i);
            BinaryPrimitives.WriteUInt32LittleEndian(destination, (uint)element.Length);
            element.CopyTo(destination[4..]);
            destination = destination[(4 + element.Length)..];
        }
        return strings;
    }

    /// <summary>Checks that every configured input and output exists in the model with the same
    /// element type, so that a mismatch fails the load instead of a request.</summary>
    private static void ValidateAgainstSession(ModelConfig config, InferenceSession session)
    {
        Check(config.Inputs, session.InputMetadata, "input");
        Check(config.Outputs, session.OutputMetadata, "output");

        static void Check(IEnumerable<TensorConfig> tensors, IReadOnlyDictionary<string, NodeMetadata> metadata, string kind)
        {
            foreach (var tensor in tensors)
            {
                if (!metadata.TryGetValue(tensor.Name, out var node))
                {
                    throw new InvalidOperationException(
                        $"configured {kind} '{tensor.Name}' is not in the ONNX model, which has: {string.Join(", ", metadata.Keys)}");
                }
                var expected = ElementType(tensor.DataType);
                if (node.IsTensor && node.ElementDataType != expected)
                {
                    throw new InvalidOperationException(
                        $"{kind} '{tensor.Name}' is {tensor.DataType.ConfigName()} in the config but {node.ElementDataType} in the ONNX model");
                }
            }
        }
    }

    private static TensorElementType ElementType(DataType type) => type switch
    {
        DataType.Bool => TensorElementType.Bool,
        DataType.UInt8 => TensorElementType.UInt8,
        DataType.UInt16 => TensorElementType.UInt16,
        DataType.UInt32 => TensorElementType.UInt32,
        DataType.UInt64 => TensorElementType.UInt64,
        DataType.Int8 => TensorElementType.Int8,
        DataType.Int16 => TensorElementType.Int16,
        DataType.Int32 => TensorElementType.Int32,
        DataType.Int64 => TensorElementType.Int64,
        DataType.Fp16 => TensorElementType.Float16,
        DataType.Bf16 => TensorElementType.BFloat16,
        DataType.Fp32 => TensorElementType.Float,
        DataType.Fp64 => TensorElementType.Double,
        DataType.Bytes => TensorElementType.String,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };

    public void Dispose()
    {
        _session.Dispose();
        _runOptions.Dispose();
    }

    /// <summary>
    /// The GPU execution providers of one session: TensorRT first when the configuration names it
    /// (Triton's gpu_execution_accelerator "tensorrt"), then CUDA on the instance's device. CUDA
    /// options come from the model's parameters and a "cuda" accelerator entry
    /// (cudnn_conv_algo_search, gpu_mem_limit, arena_extend_strategy, enable_cuda_graph, ...).
    /// The option objects must outlive the session's creation; disposing this frees them.
    /// </summary>
    private sealed class GpuProviders : IDisposable
    {
        private static readonly string[] CudaParameterKeys = ["cudnn_conv_algo_search", "gpu_mem_limit", "arena_extend_strategy", "enable_cuda_graph", "do_copy_in_default_stream"];

        private OrtTensorRTProviderOptions? _tensorRt;
        private OrtCUDAProviderOptions? _cuda;

        public void Append(SessionOptions options, ModelConfig config, int gpu)
        {
            var id = gpu.ToString(System.Globalization.CultureInfo.InvariantCulture);
            foreach (var accelerator in config.Optimization.GpuAccelerators.Where(a => a.Name == "tensorrt"))
            {
                var trt = new Dictionary<string, string> { ["device_id"] = id };
                foreach (var (key, value) in accelerator.Parameters)
                {
                    switch (key)
                    {
                        case "precision_mode":
                            trt["trt_fp16_enable"] = value == "FP16" ? "1" : "0";
                            break;
                        case "max_workspace_size_bytes":
                            trt["trt_max_workspace_size"] = value;
                            break;
                        default:
                            trt[key] = value;
                            break;
                    }
                }
                _tensorRt = new OrtTensorRTProviderOptions();
                _tensorRt.UpdateOptions(trt);
                options.AppendExecutionProvider_Tensorrt(_tensorRt);
            }

            var cuda = new Dictionary<string, string> { ["device_id"] = id };
            foreach (var key in CudaParameterKeys)
            {
                if (config.Parameters.TryGetValue(key, out var value))
                {
                    cuda[key] = value;
                }
            }
            foreach (var accelerator in config.Optimization.GpuAccelerators.Where(a => a.Name == "cuda"))
            {
                foreach (var (key, value) in accelerator.Parameters)
                {
                    cuda[key] = value;
                }
            }
            _cuda = new OrtCUDAProviderOptions();
            _cuda.UpdateOptions(cuda);
            options.AppendExecutionProvider_CUDA(_cuda);
        }

        public void Dispose()
        {
            _tensorRt?.Dispose();
            _cuda?.Dispose();
        }
    }
}
