using System.Collections.Immutable;
using Fabrik.Tensors;

namespace Fabrik.Configuration;

/// <summary>One implicit state of <c>sequence_batching</c>: the model's output
/// <see cref="OutputName"/> after one request of a sequence is given back as its input
/// <see cref="InputName"/> on the next. <see cref="Dims"/> exclude the batch dimension.</summary>
internal sealed record SequenceStateConfig(string InputName, string OutputName, DataType DataType, ImmutableArray<long> Dims, SequenceInitialState? InitialState);
