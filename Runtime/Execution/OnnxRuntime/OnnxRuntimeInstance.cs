using System.Buffers.Binary;
using System.Diagnostics;
using Fabrik.Configuration;
using Fabrik.Devices;
using Fabrik.Errors;
using Fabrik.Tensors;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SessionOptions = Microsoft.ML.OnnxRuntime.SessionOptions;

namespace Fabrik.Execution.OnnxRuntime;

/// <summary>
/// An ONNX Runtime session on the CPU or one GPU. Inputs are wrapped in place as OrtValues over
/// the pinned request buffers (no copy). An output whose shape the model fixes apart from the
/// batch dimension is pre-allocated: ONNX Runtime writes it straight into a pooled buffer. Other
/// outputs (BYTES, or dimensions known only after the run) are copied once into pooled buffers.
/// GPU sessions take the same path: ONNX Runtime copies each host input to the device once and
/// each output back once, on the session's own stream.
/// </summary>
/// <remarks>
/// Not thread-safe: the scheduler runs one batch at a time on each instance.
/// GPU sessions do not use an IOBinding. With inputs and outputs in host memory it saves no copy,
/// and its input and output synchronisation calls cudaDeviceSynchronize, which waits for every
/// stream on the device and fails ("operation not permitted when stream is capturing") while
/// another session in the process captures a CUDA graph: seen on an H100 with two instances of
/// one model on the GPU, where a plain run synchronises its own stream only.
/// </remarks>
internal sealed class OnnxRuntimeInstance : IModelInstance
{
    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions = new();
    private readonly RunDeadline _deadline;
    private readonly ModelConfig _config;
    private readonly TensorMemoryPool _pool;
    private readonly string[] _inputNames;
    private readonly string[] _outputNames;
    private readonly OutputBinding[] _outputs;

    /// <param name="config">The model's configuration, already auto-completed.</param>
    /// <param name="modelPath">The ONNX file.</param>
    /// <param name="pool">Where input and output buffers come from.</param>
    /// <param name="settings">Session threading and optimisation.</param>
    /// <param name="device">Where the session runs.</param>
    public OnnxRuntimeInstance(ModelConfig config, string modelPath, TensorMemoryPool pool, OnnxRuntimeSettings settings, InstanceDevice device)
    {
        _config = config;
        _pool = pool;
        _deadline = new RunDeadline(config, _runOptions);
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
                throw OnnxLoadFailure.NoCudaProvider(gpu, e);
            }
        }
        try
        {
            _session = new InferenceSession(modelPath, options);
        }
        catch (OnnxRuntimeException e)
        {
            throw OnnxLoadFailure.Describe(modelPath, e);
        }
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
        _outputs = config.Outputs.Select(output => OutputBinding.For(output, _session.OutputMetadata[output.Name], config.MaxBatchSize > 0)).ToArray();
        PreallocatesAllOutputs = _outputs.All(output => output.ModelDims is not null);
        Device = device.ToString();
    }

    public string Device { get; }

    /// <summary>Whether every output is written by ONNX Runtime straight into a pooled buffer.</summary>
    internal bool PreallocatesAllOutputs { get; }

    public TensorBuffer[] Run(TensorBuffer?[] inputs, ref ExecutionTimings timings, TimeSpan? timeLeft)
    {
        var start = Stopwatch.GetTimestamp();
        var names = _inputNames;
        var values = new OrtValue[inputs.Length];
        var count = 0;
        long batchSize = 1;
        var batched = _config.MaxBatchSize > 0;
        var outputs = new TensorBuffer?[_outputs.Length];
        var outputValues = new OrtValue?[_outputs.Length];
        try
        {
            for (var i = 0; i < inputs.Length; i++)
            {
                if (inputs[i] is { } input)
                {
                    batchSize = batched ? input.Shape[0] : 1;
                    values[count++] = CreateInputValue(input, _config.Inputs[i].MapShape(input.Shape, batched, toBackend: true));
                }
            }
            if (count != inputs.Length)
            {
                // Optional inputs were omitted: pass only the names of those present.
                names = _inputNames.Where((_, i) => inputs[i] is not null).ToArray();
                values = values[..count];
            }
            for (var i = 0; i < _outputs.Length; i++)
            {
                if (_outputs[i].ModelDims is not null)
                {
                    (outputs[i], outputValues[i]) = PreallocateOutput(_outputs[i], batchSize);
                }
            }
            var inputsReady = Stopwatch.GetTimestamp();
            long copyTicks = 0;
            _deadline.Start(timeLeft);
            if (PreallocatesAllOutputs)
            {
                _session.Run(_runOptions, names, values, _outputNames, outputValues!);
            }
            else
            {
                using var results = _session.Run(_runOptions, names, values, _outputNames);
                copyTicks = CopyResults(results, outputs);
            }
            timings.InputTicks = inputsReady - start;
            timings.OutputTicks = copyTicks;
            timings.InferTicks = Stopwatch.GetTimestamp() - inputsReady - copyTicks;
            return outputs!;
        }
        catch (Exception e)
        {
            foreach (var output in outputs)
            {
                output?.Dispose();
            }
            if (e is OnnxRuntimeException && _deadline.Stop())
            {
                throw new InferenceException(ErrorKind.DeadlineExceeded, _deadline.CutByRequestTimeout
                    ? $"model '{_config.Name}': the request's timeout passed during the run, which was stopped"
                    : $"model '{_config.Name}': the run took longer than its {RunDeadline.Parameter} of {_deadline.Limit!.Value.TotalMilliseconds} ms and was stopped", e);
            }
            if (e is OnnxRuntimeException runtime)
            {
                throw RunFailure.Classify(_config.Name, runtime);
            }
            throw;
        }
        finally
        {
            _deadline.Stop();
            for (var i = 0; i < count; i++)
            {
                values[i]?.Dispose();
            }
            foreach (var value in outputValues)
            {
                value?.Dispose();
            }
        }
    }

    /// <summary>Rents the output's buffer and wraps it, so that ONNX Runtime writes the result in
    /// place. The buffer belongs to the caller's output array from here on.</summary>
    private (TensorBuffer Buffer, OrtValue Value) PreallocateOutput(OutputBinding output, long batchSize)
    {
        var dims = output.ModelDims!;
        var backendShape = new long[dims.Length];
        long elementCount = 1;
        for (var d = 0; d < dims.Length; d++)
        {
            backendShape[d] = d == 0 && _config.MaxBatchSize > 0 ? batchSize : dims[d];
            elementCount *= backendShape[d];
        }
        var byteLength = elementCount * output.Config.DataType.ElementSize();
        var shape = output.Config.MapShape(backendShape, _config.MaxBatchSize > 0, toBackend: false);
        var buffer = new TensorBuffer(_pool, output.Config.DataType, shape, elementCount, byteLength);
        try
        {
            return (buffer, OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, output.ElementType, backendShape, buffer.Pointer, byteLength));
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
    }

    /// <summary>Copies the outputs that were not pre-allocated out of ONNX Runtime's results.</summary>
    /// <returns>The ticks the copies took.</returns>
    private long CopyResults(IReadOnlyCollection<OrtValue> results, TensorBuffer?[] outputs)
    {
        var start = Stopwatch.GetTimestamp();
        var index = 0;
        foreach (var result in results)
        {
            outputs[index] ??= CopyOutput(result, _config.Outputs[index]);
            index++;
        }
        return Stopwatch.GetTimestamp() - start;
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
        _deadline.Dispose();
        _runOptions.Dispose();
    }

    /// <summary>
    /// How one output comes back. <see cref="ModelDims"/> holds the model's dimensions when the
    /// output can be pre-allocated: a numeric tensor whose every dimension is fixed, apart from the
    /// first when the model batches (that one is the batch size). Null otherwise.
    /// </summary>
    private sealed record OutputBinding(TensorConfig Config, TensorElementType ElementType, long[]? ModelDims)
    {
        public static OutputBinding For(TensorConfig config, NodeMetadata metadata, bool batched)
        {
            var elementType = OnnxRuntimeInstance.ElementType(config.DataType);
            if (config.DataType == DataType.Bytes || !metadata.IsTensor)
            {
                return new OutputBinding(config, elementType, null);
            }
            var dims = metadata.Dimensions;
            if ((batched && dims.Length == 0) || dims.Skip(batched ? 1 : 0).Any(d => d < 0))
            {
                return new OutputBinding(config, elementType, null);
            }
            return new OutputBinding(config, elementType, dims.Select(d => (long)d).ToArray());
        }
    }

    /// <summary>
    /// The GPU execution providers of one session: TensorRT first when the configuration names it
    /// (Triton's gpu_execution_accelerator "tensorrt"), then CUDA on the instance's device. CUDA
    /// options come from the model's parameters and a "cuda" accelerator entry
    /// (cudnn_conv_algo_search, gpu_mem_limit, arena_extend_strategy, enable_cuda_graph, use_tf32, ...).
    /// ONNX Runtime's CUDA provider computes FP32 convolutions and matrix products in TF32 by
    /// default on Ampere and later (as Triton's onnxruntime backend does): about 1e-4 relative
    /// error. A model that needs full FP32 sets the parameter use_tf32 to "0".
    /// The option objects must outlive the session's creation; disposing this frees them.
    /// </summary>
    private sealed class GpuProviders : IDisposable
    {
        private static readonly string[] CudaParameterKeys = ["cudnn_conv_algo_search", "gpu_mem_limit", "arena_extend_strategy", "enable_cuda_graph", "do_copy_in_default_stream", "use_tf32"];

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
