using System.Globalization;
using Fabrik.Configuration;
using Fabrik.Devices;
using Fabrik.Execution.Pipeline;
using Fabrik.Native.Cuda;
using Fabrik.Tensors;
using Microsoft.ML.OnnxRuntime;

namespace Fabrik.Execution.OnnxRuntime;

/// <summary>
/// An ONNX Runtime session on one GPU, run in stages over staging sets (<see cref="CudaStagingSet"/>):
/// the pipeline gathers a batch into a set's page-locked host areas, <see cref="CopyIn"/> queues
/// the copies to the set's device buffers on the instance's one CUDA stream, <see cref="Run(StagingSet, TimeSpan?)"/>
/// runs the session on that same stream (ONNX Runtime's user_compute_stream) with the set's
/// device buffers bound through an IOBinding, and <see cref="CopyOut"/> queues the copies back
/// and waits for an event recorded behind them. Work on the stream runs in the order it was
/// queued, so no step waits for the device as a whole, and the host waits only for this stream.
/// </summary>
/// <remarks>
/// Copies and runs share the stream, as in Triton's onnxruntime backend: what overlaps the run of
/// one batch is the host's gathering of the next and scattering of the last; the device runs the
/// next batch's copy-in as soon as the current run is done. With the parameter enable_cuda_graph,
/// each staging set and batch size is its own graph (ONNX Runtime's gpu_graph_id), captured at its
/// first runs and replayed at the set's fixed addresses. The whole-batch <see cref="Run(TensorBuffer?[], ref ExecutionTimings, TimeSpan?)"/>
/// (warm-up, a request re-run alone, a pipeline that did not fit) goes through a set of its own,
/// without a graph. Threading: see <see cref="IStagedModelInstance"/>; the driver orders the
/// stream's submissions from the three stage threads. Ownership: owns the session, the stream, its
/// own set and the retained context, freed in that order.
/// </remarks>
internal sealed class OnnxCudaStagedInstance : IStagedModelInstance
{
    private readonly ModelConfig _config;
    private readonly TensorMemoryPool _pool;
    private readonly CudaContext _context;
    private readonly CudaStream _stream;
    private readonly OnnxRuntimeInstance _session;
    private readonly OrtMemoryInfo _deviceMemory;
    private readonly Func<CudaStagingSet, OrtIoBinding> _createBinding;
    private readonly CudaStagingSet _direct;
    private readonly bool _graphs;
    private readonly string[] _inputNames;
    private readonly string[] _outputNames;

    /// <exception cref="TensorPoolExhaustedException">Its own staging set does not fit the pinned
    /// memory pool; nothing is left allocated.</exception>
    public OnnxCudaStagedInstance(ModelConfig config, StagingLayout layout, string modelPath, TensorMemoryPool pool, OnnxRuntimeSettings settings, InstanceDevice device)
    {
        _config = config;
        _pool = pool;
        Layout = layout;
        var gpu = device.GpuIndex ?? throw new ArgumentException("a staged instance runs on a GPU", nameof(device));
        _context = CudaContext.Retain(gpu);
        try
        {
            _stream = _context.CreateStream();
            _direct = new CudaStagingSet(layout, pool, _context) { Index = -1 };
            _session = new OnnxRuntimeInstance(config, modelPath, pool, settings, device, _stream.Handle);
        }
        catch
        {
            _direct?.Dispose();
            _stream?.Dispose();
            _context.Dispose();
            throw;
        }
        _deviceMemory = new OrtMemoryInfo(OrtMemoryInfo.allocatorCUDA, OrtAllocatorType.DeviceAllocator, gpu, OrtMemType.Default);
        _createBinding = CreateBinding;
        _graphs = CudaProviderOptions.GraphsEnabled(config);
        _inputNames = [.. config.Inputs.Select(input => input.Name)];
        _outputNames = [.. config.Outputs.Select(output => output.Name)];
        Device = device.ToString();
    }

    public string Device { get; }

    public StagingLayout Layout { get; }

    public StagingSet CreateStagingSet() => new CudaStagingSet(Layout, _pool, _context);

    public void CopyIn(StagingSet set)
    {
        var staged = (CudaStagingSet)set;
        for (var i = 0; i < Layout.Inputs.Length; i++)
        {
            _stream.CopyToDevice(staged.DeviceInput(i), staged.HostInput(i), Layout.InputRowBytes[i] * set.Rows);
        }
    }

    public void Run(StagingSet set, TimeSpan? timeLeft)
    {
        var staged = (CudaStagingSet)set;
        // Graph ids start at 1 (0 is ONNX Runtime's own); -1 runs without a graph.
        var graphId = !_graphs ? null : set.Index < 0 ? "-1" : (1 + (set.Index * (Layout.MaxRows + 1)) + set.Rows).ToString(CultureInfo.InvariantCulture);
        _session.RunBound(staged.Binding(_createBinding), timeLeft, graphId);
    }

    public void CopyOut(StagingSet set)
    {
        var staged = (CudaStagingSet)set;
        for (var o = 0; o < Layout.Outputs.Length; o++)
        {
            _stream.CopyToHost(staged.HostOutput(o), staged.DeviceOutput(o), Layout.OutputRowBytes[o] * set.Rows);
        }
        _stream.Record(staged.CopiedOut);
        staged.CopiedOut.Synchronize(); // this stream's work up to here, nothing else on the device
    }

    /// <summary>One batch through the instance's own staging set: gather, copy in, run, copy out.</summary>
    public TensorBuffer[] Run(TensorBuffer?[] inputs, ref ExecutionTimings timings, TimeSpan? timeLeft) =>
        WholeBatch.Run(this, _direct, inputs, _pool, _config.Name, ref timings, timeLeft);

    /// <summary>Binds the set's device buffers at its current rows, in the backend's shapes.</summary>
    private OrtIoBinding CreateBinding(CudaStagingSet set)
    {
        var binding = _session.Session.CreateIoBinding();
        try
        {
            for (var i = 0; i < Layout.Inputs.Length; i++)
            {
                binding.BindInput(_inputNames[i], set.Keep(DeviceTensor(Layout.Inputs[i], set.DeviceInput(i), set.Rows)));
            }
            for (var o = 0; o < Layout.Outputs.Length; o++)
            {
                binding.BindOutput(_outputNames[o], set.Keep(DeviceTensor(Layout.Outputs[o], set.DeviceOutput(o), set.Rows)));
            }
            return binding;
        }
        catch
        {
            binding.Dispose();
            throw;
        }
    }

    /// <summary>A tensor over <paramref name="memory"/> on the device, in the backend's shape.</summary>
    private OrtValue DeviceTensor(TensorConfig tensor, DeviceMemory memory, int rows)
    {
        var shape = tensor.MapShape(Layout.Shape(tensor, rows), Layout.Batched, toBackend: true);
        var bytes = StagingLayout.Elements(tensor, rows) * tensor.DataType.ElementSize();
        return OrtValue.CreateTensorValueWithData(_deviceMemory, OnnxRuntimeInstance.ElementType(tensor.DataType), shape, memory.Address, bytes);
    }

    public void Dispose()
    {
        _direct.Dispose();
        _session.Dispose();
        _deviceMemory.Dispose();
        _stream.Dispose();
        _context.Dispose();
    }
}
