using System.Diagnostics.Metrics;

namespace Fabrik.Observability.Metrics;

/// <summary>
/// The per-tenant families (Triton has none): usage per tenant and model, in-flight and waiting
/// requests, and quota refusals, read from the tenants' counters when the endpoint is scraped.
/// The tenant label takes only declared tenants' names and one shared name for keys without a
/// tenant, so the number of series is bounded by the key file. Added only with --auth-keys.
/// </summary>
internal static class TenantMetrics
{
    /// <summary>The families' names, for tests and the docs.</summary>
    public static readonly IReadOnlyList<string> Names =
    [
        "fabrik_tenant_request_success", "fabrik_tenant_request_failure", "fabrik_tenant_inference_count",
        "fabrik_tenant_compute_duration_us", "fabrik_tenant_request_bytes", "fabrik_tenant_response_bytes",
        "fabrik_tenant_requests_in_flight", "fabrik_tenant_requests_waiting", "fabrik_tenant_request_refused",
    ];

    private static readonly string[] Reasons = ["rate", "concurrency", "compute"];

    /// <summary>Adds the families to <paramref name="meter"/>, reading <paramref name="usage"/> and
    /// <paramref name="states"/> at each scrape.</summary>
    public static void Add(FabrikMeter meter, Func<IReadOnlyList<TenantUsageSeries>> usage, Func<IReadOnlyList<TenantStateSeries>> states)
    {
        var api = meter.Meter;
        var perModel = new InstrumentShape(["model", "tenant"]);
        var perTenant = new InstrumentShape(["tenant"]);
        UsageCounter("fabrik_tenant_request_success", "Successful inference requests per tenant and model", s => s.Requests);
        UsageCounter("fabrik_tenant_request_failure", "Failed inference requests per tenant and model", s => s.Failures);
        UsageCounter("fabrik_tenant_inference_count", "Rows inferred per tenant and model (a batch-8 request counts 8)", s => s.Rows);
        UsageCounter("fabrik_tenant_compute_duration_us", "Compute time charged per tenant and model (each request's share of its batch, by rows), in microseconds", s => s.ComputeMicroseconds);
        UsageCounter("fabrik_tenant_request_bytes", "Request bytes received per tenant and model", s => s.BytesIn);
        UsageCounter("fabrik_tenant_response_bytes", "Response bytes sent per tenant and model", s => s.BytesOut);
        meter.Add(api.CreateObservableGauge("fabrik_tenant_requests_in_flight",
            () => states().Select(s => new Measurement<long>(s.InFlight, Tag("tenant", s.Tenant))), description: "Requests of the tenant admitted and not yet answered"), perTenant);
        meter.Add(api.CreateObservableGauge("fabrik_tenant_requests_waiting",
            () => states().Select(s => new Measurement<long>(s.Waiting, Tag("tenant", s.Tenant))), description: "Requests of the tenant waiting for an in-flight slot (max_queued)"), perTenant);
        meter.Add(api.CreateObservableCounter("fabrik_tenant_request_refused", ObserveRefusals,
            description: "Requests refused by a tenant quota before they were read or queued; reason is rate, concurrency or compute"), new InstrumentShape(["reason", "tenant"]));

        IEnumerable<Measurement<long>> ObserveRefusals()
        {
            foreach (var s in states())
            {
                long[] counts = [s.RefusedRate, s.RefusedConcurrency, s.RefusedCompute];
                for (var i = 0; i < Reasons.Length; i++)
                {
                    yield return new Measurement<long>(counts[i], Tag("reason", Reasons[i]), Tag("tenant", s.Tenant));
                }
            }
        }

        void UsageCounter(string name, string help, Func<TenantUsageSeries, long> value) =>
            meter.Add(api.CreateObservableCounter(name,
                () => usage().Select(s => new Measurement<long>(value(s), Tag("model", s.Model), Tag("tenant", s.Tenant))), description: help), perModel);
    }

    private static KeyValuePair<string, object?> Tag(string key, string value) => new(key, value);
}
