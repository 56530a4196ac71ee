namespace Fabrik.Security.Access;

/// <summary>A decision and, when the caller is known, its key id (or certificate subject); for a
/// client past the failure limit, how long it stays blocked.</summary>
internal readonly record struct AccessDecision(AccessOutcome Outcome, string? Caller, string? Message, TimeSpan? RetryAfter = null)
{
    public static readonly AccessDecision Open = new(AccessOutcome.Allowed, null, null);
}
