using Fabrik.Execution.Pipeline;
using Fabrik.Tensors;

namespace Fabrik.Testing.SimulatedDevice;

/// <summary>A staging set of the simulated device: pinned host areas (counted against the pinned
/// memory pool, as page-locked staging is) and arrays that stand in for device memory.</summary>
internal sealed class SimulatedStagingSet : StagingSet
{
    private readonly byte[][] _hostInputs;
    private readonly byte[][] _hostOutputs;

    public SimulatedStagingSet(StagingLayout layout, TensorMemoryPool pool)
        : base(layout, pool)
    {
        _hostInputs = Allocate(layout.InputRowBytes, layout.MaxRows);
        _hostOutputs = Allocate(layout.OutputRowBytes, layout.MaxRows);
        DeviceInputs = Allocate(layout.InputRowBytes, layout.MaxRows);
        DeviceOutputs = Allocate(layout.OutputRowBytes, layout.MaxRows);
    }

    /// <summary>The device's copy of each input.</summary>
    public byte[][] DeviceInputs { get; }

    /// <summary>The device's outputs, before they are copied out.</summary>
    public byte[][] DeviceOutputs { get; }

    /// <summary>The host area of an input, over all rows the set holds.</summary>
    public Span<byte> HostInput(int input) => InputArea(input);

    /// <summary>The host area of an output.</summary>
    public Span<byte> HostOutput(int output) => OutputArea(output);

    protected override Span<byte> InputArea(int input) => _hostInputs[input];

    protected override Span<byte> OutputArea(int output) => _hostOutputs[output];

    protected override void Free()
    {
        // Managed arrays: the GC takes them once the set is gone.
    }

    private static byte[][] Allocate(IReadOnlyList<long> rowBytes, int rows) =>
        [.. rowBytes.Select(bytes => GC.AllocateArray<byte>((int)(bytes * rows), pinned: true))];
}
