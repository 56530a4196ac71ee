namespace Fabrik.Configuration;

/// <summary>A parsed message: its fields in source order.</summary>
internal sealed record TextMessage(IReadOnlyList<TextField> Fields);
