using System.Collections.Immutable;
using Fabrik.Tenancy;

namespace Fabrik.Security.Access;

/// <summary>
/// One entry of the --auth-keys file: a key (by the SHA-256 of its text) or a client
/// certificate subject, and the scopes it grants.
/// </summary>
internal sealed record ApiKey(string Id, byte[]? Sha256, string? Subject, ImmutableArray<string> Scopes)
{
    /// <summary>The tenant the entry names; null when it names none.</summary>
    public string? TenantName { get; init; }

    /// <summary>The tenant its requests are charged to: the named one, or the key's own when the
    /// file declares tenants but the entry names none; null when the file declares no tenants.</summary>
    public Tenant? Tenant { get; init; }

    /// <summary>Whether the scopes include <c>admin</c>.</summary>
    public bool IsAdmin => Scopes.Contains("admin");

    /// <summary>Whether the scopes grant <paramref name="group"/> (for inference, on <paramref name="model"/>).</summary>
    public bool Grants(ApiGroup group, string? model)
    {
        foreach (var scope in Scopes)
        {
            var granted = scope switch
            {
                "admin" => true,
                "metadata" => group is ApiGroup.Metadata or ApiGroup.ModelConfig,
                "stats" => group is ApiGroup.Statistics,
                "repository" => group is ApiGroup.Repository,
                "metrics" => group is ApiGroup.Metrics,
                "shared-memory" => group is ApiGroup.SharedMemory,
                _ when scope.StartsWith("infer:", StringComparison.Ordinal) =>
                    group is ApiGroup.Inference && model is not null && Glob.Matches(scope.AsSpan(6), model),
                _ => false,
            };
            if (granted)
            {
                return true;
            }
        }
        // Health needs only a known caller (it is checked at all only with --auth-health=true);
        // so does usage, which shows a caller only its own tenant.
        return group is ApiGroup.Health or ApiGroup.Usage;
    }
}
