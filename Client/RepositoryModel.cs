namespace Fabrik.Client;

/// <summary>One row of the repository index (<c>POST /v2/repository/index</c>, <c>RepositoryIndex</c>).</summary>
/// <param name="Name">The model's name.</param>
/// <param name="Version">The version, or null for a model with no version loaded.</param>
/// <param name="State">Its state ("READY", "LOADING", "UNAVAILABLE", ...), or null when the server gave none.</param>
/// <param name="Reason">Why it is in that state, when the server says.</param>
public sealed record RepositoryModel(string Name, string? Version, string? State, string? Reason);
