using System.Collections.Immutable;
using Fabrik.Configuration;
using Fabrik.Tensors;

namespace Fabrik.Execution.Pipeline;

/// <summary>
/// The staging areas a model needs: one per input and per output, each holding the tensor at the
/// model's largest batch. Only models whose every input and output has a fixed size per row can be
/// staged (numeric, no variable dimension, no optional input): their areas are known at load.
/// </summary>
internal sealed class StagingLayout
{
    private StagingLayout(ModelConfig config, long[] inputRowBytes, long[] outputRowBytes)
    {
        Batched = config.MaxBatchSize > 0;
        MaxRows = Math.Max(1, config.MaxBatchSize);
        Inputs = config.Inputs;
        Outputs = config.Outputs;
        InputRowBytes = inputRowBytes;
        OutputRowBytes = outputRowBytes;
        HostBytes = (inputRowBytes.Sum() + outputRowBytes.Sum()) * MaxRows;
    }

    /// <summary>Whether the first dimension is the batch (max_batch_size above 0).</summary>
    public bool Batched { get; }

    /// <summary>Rows the areas hold: max_batch_size, or 1 for a model that does not batch.</summary>
    public int MaxRows { get; }

    public ImmutableArray<TensorConfig> Inputs { get; }

    public ImmutableArray<TensorConfig> Outputs { get; }

    /// <summary>Bytes of one row of each input (the whole tensor when the model does not batch).</summary>
    public IReadOnlyList<long> InputRowBytes { get; }

    /// <summary>Bytes of one row of each output.</summary>
    public IReadOnlyList<long> OutputRowBytes { get; }

    /// <summary>Host bytes of one staging set: every input and output area at <see cref="MaxRows"/>.</summary>
    public long HostBytes { get; }

    /// <summary>The client-facing shape of <paramref name="tensor"/> with <paramref name="rows"/> rows.</summary>
    public long[] Shape(TensorConfig tensor, int rows) => Batched ? [rows, .. tensor.Dims] : [.. tensor.Dims];

    /// <summary>Elements of <paramref name="tensor"/> with <paramref name="rows"/> rows.</summary>
    public static long Elements(TensorConfig tensor, int rows) => tensor.Dims.Aggregate((long)rows, (product, dim) => product * dim);

    /// <summary>The layout of <paramref name="config"/>, or null with the reason it cannot be staged.
    /// Dimensions come from config.pbtxt, which the parser bounds; every product is checked, and
    /// an area must fit in one span (2 GiB).</summary>
    public static StagingLayout? For(ModelConfig config, out string? reason)
    {
        reason = null;
        var rows = Math.Max(1, config.MaxBatchSize);
        var inputs = RowBytes(config.Inputs, rows, "input", ref reason);
        var outputs = RowBytes(config.Outputs, rows, "output", ref reason);
        if (inputs is null || outputs is null)
        {
            return null;
        }
        if (config.Inputs.Length == 0)
        {
            reason = "the model takes no inputs";
            return null;
        }
        if (config.Inputs.FirstOrDefault(input => input.Optional) is { } optional)
        {
            reason = $"input '{optional.Name}' is optional";
            return null;
        }
        return new StagingLayout(config, inputs, outputs);
    }

    private static long[]? RowBytes(ImmutableArray<TensorConfig> tensors, int rows, string kind, ref string? reason)
    {
        var bytes = new long[tensors.Length];
        for (var i = 0; i < tensors.Length; i++)
        {
            var tensor = tensors[i];
            if (tensor.DataType == DataType.Bytes || tensor.Dims.Any(dim => dim < 0))
            {
                reason ??= $"{kind} '{tensor.Name}' has no fixed size per row (BYTES or a variable dimension)";
                return null;
            }
            try
            {
                bytes[i] = checked(tensor.Dims.Aggregate((long)tensor.DataType.ElementSize(), (product, dim) => checked(product * dim)));
                if (checked(bytes[i] * rows) > int.MaxValue)
                {
                    reason ??= $"{kind} '{tensor.Name}' takes more than 2 GiB at the largest batch";
                    return null;
                }
            }
            catch (OverflowException)
            {
                reason ??= $"{kind} '{tensor.Name}' is too large to stage";
                return null;
            }
        }
        return bytes;
    }
}
