using Fabrik.Execution.Pipeline;
using Fabrik.Native.Cuda;
using Fabrik.Tensors;
using Microsoft.ML.OnnxRuntime;

namespace Fabrik.Execution.OnnxRuntime;

/// <summary>
/// One staging set of a GPU instance: for each input and output a page-locked host area
/// (cuMemHostAlloc, counted against the pinned memory pool) and a device buffer of the same size,
/// an event that marks the end of its copy-out, and the IOBindings of ONNX Runtime over its device
/// buffers (with the tensors they bind), one per batch size, made on first use and kept (so a CUDA graph captured for a binding
/// replays at the same addresses).
/// </summary>
/// <remarks>Ownership and threading as <see cref="StagingSet"/>.</remarks>
internal sealed class CudaStagingSet : StagingSet
{
    private readonly PinnedHostMemory?[] _hostInputs;
    private readonly PinnedHostMemory?[] _hostOutputs;
    private readonly DeviceMemory?[] _deviceInputs;
    private readonly DeviceMemory?[] _deviceOutputs;
    private readonly OrtIoBinding?[] _bindings;
    private readonly List<OrtValue> _boundValues = [];
    private readonly CudaEvent? _copiedOut;

    /// <exception cref="TensorPoolExhaustedException">The host areas do not fit the pool's limit.</exception>
    /// <exception cref="Native.NativeException">The driver could not allocate them.</exception>
    public CudaStagingSet(StagingLayout layout, TensorMemoryPool pool, CudaContext context)
        : base(layout, pool)
    {
        _hostInputs = new PinnedHostMemory?[layout.Inputs.Length];
        _deviceInputs = new DeviceMemory?[layout.Inputs.Length];
        _hostOutputs = new PinnedHostMemory?[layout.Outputs.Length];
        _deviceOutputs = new DeviceMemory?[layout.Outputs.Length];
        _bindings = new OrtIoBinding?[layout.MaxRows + 1];
        try
        {
            Allocate(context, layout.InputRowBytes, _hostInputs, _deviceInputs);
            Allocate(context, layout.OutputRowBytes, _hostOutputs, _deviceOutputs);
            _copiedOut = context.CreateEvent();
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public PinnedHostMemory HostInput(int input) => _hostInputs[input]!;

    public PinnedHostMemory HostOutput(int output) => _hostOutputs[output]!;

    public DeviceMemory DeviceInput(int input) => _deviceInputs[input]!;

    public DeviceMemory DeviceOutput(int output) => _deviceOutputs[output]!;

    /// <summary>Recorded behind the set's copy-out; the host reads the outputs once it completes.</summary>
    public CudaEvent CopiedOut => _copiedOut!;

    /// <summary>The binding for the set's current rows, made by <paramref name="create"/> the first time.</summary>
    public OrtIoBinding Binding(Func<CudaStagingSet, OrtIoBinding> create) => _bindings[Rows] ??= create(this);

    /// <summary>Keeps a tensor a binding refers to alive until the set is freed.</summary>
    public OrtValue Keep(OrtValue value)
    {
        _boundValues.Add(value);
        return value;
    }

    protected override Span<byte> InputArea(int input) => _hostInputs[input]!.AsSpan((int)_hostInputs[input]!.Length);

    protected override Span<byte> OutputArea(int output) => _hostOutputs[output]!.AsSpan((int)_hostOutputs[output]!.Length);

    private void Allocate(CudaContext context, IReadOnlyList<long> rowBytes, PinnedHostMemory?[] host, DeviceMemory?[] device)
    {
        for (var i = 0; i < rowBytes.Count; i++)
        {
            var bytes = Math.Max(1, rowBytes[i] * Layout.MaxRows);
            host[i] = context.AllocatePinned(bytes);
            device[i] = context.AllocateDevice(bytes);
        }
    }

    protected override void Free()
    {
        foreach (var binding in _bindings)
        {
            binding?.Dispose();
        }
        _boundValues.ForEach(value => value.Dispose());
        foreach (var resource in _hostInputs.Concat<CudaResource?>(_hostOutputs).Concat(_deviceInputs).Concat(_deviceOutputs))
        {
            resource?.Dispose();
        }
        _copiedOut?.Dispose();
    }
}
