namespace Fabrik.Security.Access;

/// <summary>A decision and, when the caller is known, its key id (or certificate subject).</summary>
internal readonly record struct AccessDecision(AccessOutcome Outcome, string? Caller, string? Message)
{
    public static readonly AccessDecision Open = new(AccessOutcome.Allowed, null, null);
}
