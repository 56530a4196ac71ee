namespace Fabrik.Tenancy;

/// <summary>Why a tenant's request was refused before it was queued, and when a retry may pass.</summary>
/// <param name="Quota">Which quota: <c>rate</c>, <c>concurrency</c> or <c>compute</c> (the metrics' reason label).</param>
/// <param name="Message">What the client is told, naming its tenant and the quota.</param>
/// <param name="RetryAfterSeconds">Whole seconds, rounded up, at least 1.</param>
internal sealed record TenantRefusal(string Quota, string Message, long RetryAfterSeconds)
{
    /// <summary>Whole seconds for <paramref name="seconds"/>, rounded up, at least 1.</summary>
    public static long WholeSeconds(double seconds) => Math.Max(1, (long)Math.Ceiling(Math.Min(seconds, int.MaxValue)));
}
