namespace Fabrik.Observability.Metrics;

/// <summary>One tenant's admission state as the metrics see it: requests in flight and waiting
/// now, and refusals since start by quota.</summary>
internal readonly record struct TenantStateSeries(
    string Tenant, long InFlight, long Waiting, long RefusedRate, long RefusedConcurrency, long RefusedCompute);
