namespace Fabrik.Tenancy;

/// <summary>
/// One tenant's quotas as the key file declares them; each is null where the file sets none.
/// </summary>
/// <param name="RequestsPerSecond">Token bucket refill rate (requests per second).</param>
/// <param name="Burst">Token bucket size (requests admitted at once from a full bucket).</param>
/// <param name="MaxInFlight">Requests of the tenant inside the server at once (queued or running).</param>
/// <param name="MaxQueued">Requests that may wait for a free in-flight slot before the next is refused (needs <paramref name="MaxInFlight"/>).</param>
/// <param name="ComputeMillisecondsPerMinute">Device milliseconds a minute, charged from each request's share of its batch's compute time.</param>
internal sealed record TenantLimits(double? RequestsPerSecond, int? Burst, int? MaxInFlight, int? MaxQueued, long? ComputeMillisecondsPerMinute)
{
    /// <summary>No quota at all.</summary>
    public static readonly TenantLimits None = new(null, null, null, null, null);

    /// <summary>Whether any quota is set (a tenant without one is admitted without taking a lock).</summary>
    public bool Any => RequestsPerSecond is not null || MaxInFlight is not null || ComputeMillisecondsPerMinute is not null;
}
