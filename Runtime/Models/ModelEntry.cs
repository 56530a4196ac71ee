using System.Collections.Immutable;

namespace Fabrik.Models;

/// <summary>What the server knows about one model: its state, why, and (when READY) the versions
/// that serve it.</summary>
internal sealed record ModelEntry(string Name, ModelState State, string Reason, ImmutableSortedDictionary<long, LoadedModel> Versions)
{
    public static ModelEntry Without(string name, ModelState state, string reason) =>
        new(name, state, reason, ImmutableSortedDictionary<long, LoadedModel>.Empty);

    /// <summary>The newest served version, or null.</summary>
    public LoadedModel? Loaded => Versions.IsEmpty ? null : Versions.Values.Last();

    /// <summary>The repository fingerprint this entry was loaded from (poll mode).</summary>
    public string Fingerprint { get; init; } = "";

    /// <summary>For an ensemble, the models its steps name (loaded or not), so that a change to
    /// one of them checks the ensemble again; empty for any other model.</summary>
    public IReadOnlyList<string> Composing { get; init; } = [];

    public static string StateName(ModelState state) => state.ToString().ToUpperInvariant();
}
