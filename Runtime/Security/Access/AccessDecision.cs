using Fabrik.Tenancy;

namespace Fabrik.Security.Access;

/// <summary>A decision and, when the caller is known, its key id (or certificate subject); for a
/// client past the failure limit, how long it stays blocked.</summary>
internal readonly record struct AccessDecision(AccessOutcome Outcome, string? Caller, string? Message, TimeSpan? RetryAfter = null)
{
    public static readonly AccessDecision Open = new(AccessOutcome.Allowed, null, null);

    /// <summary>The caller's entry in the key file, when it was allowed by one.</summary>
    public ApiKey? Key { get; init; }

    /// <summary>The tenant the caller's requests are charged to; null when the key file declares none.</summary>
    public Tenant? Tenant => Key?.Tenant;
}
