using System.Globalization;
using Fabrik.Security;
using Fabrik.Tenancy;

namespace Fabrik.Hosting;

/// <summary>
/// The --usage-log file: every minute, and once more at stop, one record per tenant and model
/// that used anything in the period (<c>{"event":"usage","from":...,"to":...,"tenant":...,
/// "model":...,"requests":N,"rows":N,"failures":N,"compute_us":N,"bytes_in":N,"bytes_out":N}</c>),
/// written through an <see cref="AuditLog"/> so that the records are hash-chained exactly as the
/// audit log's are and <c>fabrik usage verify</c> is <see cref="AuditChain.Verify"/>. Each period
/// starts where the one before ended, so a month's records cover it without gaps.
/// </summary>
/// <remarks>Thread-safe: the timer and the stop write under <c>_gate</c>.</remarks>
internal sealed class TenantUsageLog : IDisposable
{
    /// <summary>How often the records are written.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromMinutes(1);

    private readonly AuditLog _log;
    private readonly TenantRegistry _tenants;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly ITimer _timer;
    private Dictionary<(string Tenant, string Model), UsageTotals> _written = [];
    private DateTimeOffset _periodStart;
    private bool _stopped;

    public TenantUsageLog(string path, TenantRegistry tenants, TimeProvider time)
    {
        _log = new AuditLog(path, time: time);
        _tenants = tenants;
        _time = time;
        _periodStart = time.GetUtcNow();
        _log.Write("usage-start");
        _timer = time.CreateTimer(_ => Write(), null, Interval, Interval);
    }

    /// <summary>Writes the records of the period that ends now.</summary>
    public void Write()
    {
        lock (_gate)
        {
            if (_stopped)
            {
                return;
            }
            var now = _time.GetUtcNow();
            var from = Stamp(_periodStart);
            var to = Stamp(now);
            var current = new Dictionary<(string Tenant, string Model), UsageTotals>();
            foreach (var (tenant, model, totals) in _tenants.UsageByLabel())
            {
                current[(tenant, model)] = totals;
                var used = totals - _written.GetValueOrDefault((tenant, model));
                if (used.IsZero)
                {
                    continue;
                }
                _log.Write("usage", ("from", from), ("to", to), ("tenant", tenant), ("model", model),
                    ("requests", used.Requests), ("rows", used.Rows), ("failures", used.Failures),
                    ("compute_us", used.ComputeMicroseconds), ("bytes_in", used.BytesIn), ("bytes_out", used.BytesOut));
            }
            _written = current;
            _periodStart = now;
        }
    }

    private static string Stamp(DateTimeOffset time) => time.UtcDateTime.ToString("O", CultureInfo.InvariantCulture);

    /// <summary>Writes the last period and closes the file (after the requests in flight were answered).</summary>
    public void Dispose()
    {
        _timer.Dispose();
        Write();
        lock (_gate)
        {
            _stopped = true;
            _log.Write("usage-stop");
            _log.Dispose();
        }
    }
}
