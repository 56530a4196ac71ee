using System.Collections.Immutable;
using Fabrik.Tensors;

namespace Fabrik.Configuration;

/// <summary>One warm-up input: its type and dims (without the batch dimension) and its data,
/// which for <see cref="WarmupData.File"/> is read from the model's <c>warmup/</c> folder.</summary>
internal sealed record WarmupInput(string Name, DataType DataType, ImmutableArray<long> Dims, WarmupData Data, string FileName);
