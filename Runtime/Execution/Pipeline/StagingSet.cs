using Fabrik.Tensors;

namespace Fabrik.Execution.Pipeline;

/// <summary>
/// One set of staging buffers of a staged instance: a host area per input and per output (see
/// <see cref="StagingLayout"/>), and whatever device memory the backend keeps beside them. The
/// pipeline gathers a batch's inputs into the input areas, the instance copies them in, runs and
/// copies out, and the pipeline scatters the outputs from the output areas.
/// </summary>
/// <remarks>
/// Ownership: made by <see cref="IStagedModelInstance.CreateStagingSet"/>, owned and disposed by
/// the pipeline. Its host bytes are counted against the tensor pool's limit from construction until
/// disposal. Threading: one stage works on a set at a time; the hand-off between stages (a
/// blocking collection, which publishes what one thread wrote to the next) orders their accesses.
/// </remarks>
internal abstract class StagingSet : IDisposable
{
    private readonly TensorMemoryPool _pool;
    private int _disposed;

    /// <summary>Counts the layout's host bytes against <paramref name="pool"/>'s limit; a backend
    /// allocates its buffers only after this, and disposes the set if that fails.</summary>
    /// <exception cref="TensorPoolExhaustedException">They do not fit.</exception>
    protected StagingSet(StagingLayout layout, TensorMemoryPool pool)
    {
        pool.ReserveExternal(layout.HostBytes);
        _pool = pool;
        Layout = layout;
    }

    public StagingLayout Layout { get; }

    /// <summary>The set's place in its pipeline (0 to depth − 1), which the pipeline assigns.</summary>
    public int Index { get; set; }

    /// <summary>Rows of the batch now in the set.</summary>
    public int Rows { get; set; }

    /// <summary>The input area <paramref name="input"/>, filled to <see cref="Rows"/> rows.</summary>
    public Span<byte> Input(int input) => InputArea(input)[..(int)(Layout.InputRowBytes[input] * Rows)];

    /// <summary>The output area <paramref name="output"/>, filled to <see cref="Rows"/> rows.</summary>
    public ReadOnlySpan<byte> Output(int output) => OutputArea(output)[..(int)(Layout.OutputRowBytes[output] * Rows)];

    /// <summary>The whole host area of an input, for <see cref="StagingLayout.MaxRows"/> rows.</summary>
    protected abstract Span<byte> InputArea(int input);

    /// <summary>The whole host area of an output.</summary>
    protected abstract Span<byte> OutputArea(int output);

    /// <summary>Frees the backend's buffers, those it has allocated so far (a failed construction
    /// frees through here too).</summary>
    protected abstract void Free();

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Free();
            _pool.ReleaseExternal(Layout.HostBytes);
        }
    }
}
