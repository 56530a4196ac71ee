using System.Collections.Immutable;

namespace Fabrik.Configuration;

/// <summary>A model_warmup entry: <see cref="Count"/> runs of a batch of <see cref="BatchSize"/>.</summary>
internal sealed record WarmupSample(string Name, int BatchSize, int Count, ImmutableArray<WarmupInput> Inputs);
