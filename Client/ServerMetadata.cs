namespace Fabrik.Client;

/// <summary>What the server says about itself (<c>GET /v2</c>, <c>ServerMetadata</c>).</summary>
/// <param name="Name">The server's name ("fabrik", "triton").</param>
/// <param name="Version">The server's version.</param>
/// <param name="Extensions">The protocol extensions it supports ("binary_tensor_data", "statistics", ...).</param>
public sealed record ServerMetadata(string Name, string Version, IReadOnlyList<string> Extensions);
