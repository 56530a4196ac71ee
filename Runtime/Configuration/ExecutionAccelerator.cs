using System.Collections.Immutable;

namespace Fabrik.Configuration;

/// <summary>An execution_accelerators entry: a name and its string parameters.</summary>
internal sealed record ExecutionAccelerator(string Name, ImmutableDictionary<string, string> Parameters);
