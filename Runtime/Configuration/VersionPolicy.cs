using System.Collections.Immutable;

namespace Fabrik.Configuration;

/// <summary>version_policy: the latest N versions, all versions, or specific ones.</summary>
internal sealed record VersionPolicy(VersionPolicyKind Kind, int NumVersions, ImmutableArray<long> Versions)
{
    public static VersionPolicy Latest(int count) => new(VersionPolicyKind.Latest, count, []);

    /// <summary>The versions to serve among <paramref name="available"/> (sorted ascending).</summary>
    public IReadOnlyList<long> Select(IReadOnlyList<long> available) => Kind switch
    {
        VersionPolicyKind.All => available,
        VersionPolicyKind.Specific => Versions.Where(available.Contains).Order().ToArray(),
        _ => available.Skip(Math.Max(0, available.Count - NumVersions)).ToArray(),
    };
}
