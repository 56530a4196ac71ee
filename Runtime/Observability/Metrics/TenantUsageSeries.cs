namespace Fabrik.Observability.Metrics;

/// <summary>One tenant's use of one model as the metrics see it (the tenant label is a declared
/// tenant's name, or one shared name for keys without one).</summary>
internal readonly record struct TenantUsageSeries(
    string Tenant, string Model, long Requests, long Rows, long Failures, long ComputeMicroseconds, long BytesIn, long BytesOut);
