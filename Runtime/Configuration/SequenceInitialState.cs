using System.Collections.Immutable;
using Fabrik.Tensors;

namespace Fabrik.Configuration;

/// <summary>An implicit state's <c>initial_state</c>: zeros, or the raw bytes of
/// <see cref="DataFile"/> in the model's <c>initial_state/</c> folder. <see cref="Data"/> holds
/// those bytes once the loader has read them (confined to the model folder).</summary>
internal sealed record SequenceInitialState(string Name, DataType DataType, ImmutableArray<long> Dims, string DataFile)
{
    /// <summary>The file's bytes, read at load time; empty for zero data.</summary>
    public ImmutableArray<byte> Data { get; init; } = [];
}
