using System.Buffers.Binary;
using System.Diagnostics;
using Fabrik.Configuration;
using Fabrik.Devices;
using Fabrik.Errors;
using Fabrik.Tensors;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Fabrik.Execution.OnnxRuntime;

/// <summary>
/// An ONNX Runtime session on the CPU or one GPU. Inputs are wrapped in place as OrtValues over
/// the pinned request buffers (no copy). An output whose shape the model fixes apart from the
/// batch dimension is pre-allocated: ONNX Runtime writes it straight into a pooled buffer. Other
/// outputs (BYTES, or dimensions known only after the run) are copied once into pooled buffers.
/// GPU sessions of models that cannot be staged, or whose pipeline_depth is 1, take the same
/// path: ONNX Runtime copies each host input to the device once and each output back once, on
/// the session's own stream. Staged GPU instances (<see cref="OnnxCudaStagedInstance"/>) bind
/// device buffers instead, through <see cref="RunBound"/>.
/// </summary>
/// <remarks>
/// Not thread-safe: one run at a time (the scheduler's loop, or a pipeline's run stage).
/// Neither path calls an IOBinding's input or output synchronisation: it calls
/// cudaDeviceSynchronize, which waits for every stream on the device and fails ("operation not
/// permitted when stream is capturing") while another session in the process captures a CUDA
/// graph: seen on an H100 with two instances of one model on the GPU, where a plain run
/// synchronises its own stream only.
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
    /// <param name="computeStream">On a GPU, the CUstream every kernel and copy of the session runs
    /// on (ONNX Runtime's user_compute_stream), owned by the caller and outliving the session; zero
    /// for the CUDA provider's own.</param>
    public OnnxRuntimeInstance(ModelConfig config, string modelPath, TensorMemoryPool pool, OnnxRuntimeSettings settings, InstanceDevice device, IntPtr computeStream = default)
    {
        _config = config;
        _pool = pool;
        _deadline = new RunDeadline(config, _runOptions);
        using var options = settings.CreateSessionOptions();
        using var providers = new OnnxGpuProviders();
        if (device.GpuIndex is { } gpu)
        {
            try
            {
                providers.Append(options, config, gpu, computeStream);
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
            if (e is OnnxRuntimeException runtime)
            {
                throw Translate(runtime);
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

    /// <summary>The session, for an instance that binds device buffers to it (<see cref="OnnxCudaStagedInstance"/>).</summary>
    internal InferenceSession Session => _session;

    /// <summary>Runs the session on what <paramref name="binding"/> binds (device buffers on the
    /// session's stream), with the same deadline and failure handling as <see cref="Run"/>.
    /// <paramref name="graphId"/>, when set, names the CUDA graph this shape and binding replay
    /// (ONNX Runtime's gpu_graph_id run option).</summary>
    internal void RunBound(OrtIoBinding binding, TimeSpan? timeLeft, string? graphId)
    {
        try
        {
            if (graphId is not null)
            {
                _runOptions.AddRunConfigEntry("gpu_graph_id", graphId);
            }
            _deadline.Start(timeLeft);
            _session.RunWithBinding(_runOptions, binding);
        }
        catch (OnnxRuntimeException e)
        {
            throw Translate(e);
        }
        finally
        {
            _deadline.Stop();
        }
    }

    /// <summary>A failed run in the client's terms: stopped at its deadline, refused, or broken.</summary>
    private InferenceException Translate(OnnxRuntimeException e) =>
        _deadline.Stop()
            ? new InferenceException(ErrorKind.DeadlineExceeded, _deadline.CutByRequestTimeout
                ? $"model '{_config.Name}': the request's timeout passed during the run, which was stopped"
                : $"model '{_config.Name}': the run took longer than its {RunDeadline.Parameter} of {_deadline.Limit!.Value.TotalMilliseconds} ms and was stopped", e)
            : RunFailure.Classify(_config.Name, e);

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

    internal static TensorElementType ElementType(DataType type) => type switch
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
}
