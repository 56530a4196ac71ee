using System.Collections.Immutable;
using Fabrik.Tensors;

namespace Fabrik.Configuration;

/// <summary>One input or output. <see cref="Dims"/> excludes the batch dimension; -1 is variable.
/// <see cref="Reshape"/>, when set, is the shape the backend uses instead of <see cref="Dims"/>
/// (same element count): clients see dims, the model sees the reshape.</summary>
internal sealed record TensorConfig(string Name, DataType DataType, ImmutableArray<long> Dims, bool Optional = false)
{
    public ImmutableArray<long>? Reshape { get; init; }

    /// <summary>Maps a shape between the client's dims and the backend's reshape, keeping the
    /// batch dimension when there is one. Without a reshape the shape is returned unchanged.</summary>
    public long[] MapShape(long[] shape, bool batched, bool toBackend)
    {
        if (Reshape is not { } reshape)
        {
            return shape;
        }
        var target = toBackend ? reshape : Dims;
        return batched ? [shape[0], .. target] : [.. target];
    }
}
