using System.Collections.Concurrent;
using System.Globalization;
using Fabrik.Inference;

namespace Fabrik.Tenancy;

/// <summary>
/// One tenant: its weight in each model's queue, its quotas (a request-rate bucket, in-flight
/// and waiting requests, a compute budget) and what it used of each model. Declared tenants come
/// from the key file's <c>tenants</c> section; a key that names none is a tenant of its own
/// (weight 1, no quotas), counted in the metrics and usage records under
/// <see cref="UndeclaredLabel"/> so that their number stays bounded.
/// </summary>
/// <remarks>
/// One instance per name for the server's life: a reload of the key file changes the weight and
/// quotas in place (<see cref="Apply"/>), so requests queued under the old settings are charged to
/// the same tenant. Admission takes <c>_gate</c> only when a quota is set; without one it is an
/// interlocked increment. Usage counters are interlocked. No path allocates for an admitted
/// request; a refusal and a wait for an in-flight slot do.
/// </remarks>
internal sealed class Tenant : RequestTenant
{
    /// <summary>The metric label and usage-record name of every key without a declared tenant.</summary>
    public const string UndeclaredLabel = "undeclared";

    /// <summary>Tokens (or µs) a refill may fall short by in floating point and still count as
    /// there, so that a retry after exactly Retry-After seconds is admitted.</summary>
    private const double Slack = 1e-9;

    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly ConcurrentDictionary<string, ModelUsage> _usage = new(StringComparer.Ordinal);
    // Requests waiting for an in-flight slot, oldest first; under _gate.
    private readonly LinkedList<TaskCompletionSource<TenantRefusal?>> _waiting = new();
    private volatile int _weight = 1;
    private volatile TenantLimits _limits = TenantLimits.None;
    private TokenBucket _requests; // under _gate
    private TokenBucket _compute; // under _gate, in microseconds
    private int _inFlight; // interlocked; changed under _gate when a quota is set
    private long _refusedRate, _refusedConcurrency, _refusedCompute;

    public Tenant(string name, bool declared, TimeProvider time)
    {
        Name = name;
        Declared = declared;
        _time = time;
    }

    public override string Name { get; }

    public override int Weight => _weight;

    /// <summary>Whether the key file's <c>tenants</c> section declares it.</summary>
    public bool Declared { get; }

    /// <summary>The name metrics and usage records use: the tenant's, or <see cref="UndeclaredLabel"/>.</summary>
    public string Label => Declared ? Name : UndeclaredLabel;

    public TenantLimits Limits => _limits;

    /// <summary>Requests admitted and not yet answered.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Requests waiting for an in-flight slot.</summary>
    public int Waiting
    {
        get
        {
            lock (_gate)
            {
                return _waiting.Count;
            }
        }
    }

    /// <summary>Refusals since start, by quota.</summary>
    public (long Rate, long Concurrency, long Compute) Refused =>
        (Interlocked.Read(ref _refusedRate), Interlocked.Read(ref _refusedConcurrency), Interlocked.Read(ref _refusedCompute));

    /// <summary>Applies the key file's settings (at start and at each reload), keeping the tokens
    /// held and the requests in flight.</summary>
    public void Apply(int weight, TenantLimits limits)
    {
        lock (_gate)
        {
            var now = _time.GetTimestamp();
            var frequency = _time.TimestampFrequency;
            if (limits.RequestsPerSecond is { } rate)
            {
                var burst = limits.Burst ?? Math.Max(1, (int)Math.Ceiling(rate));
                if (_limits.RequestsPerSecond is null)
                {
                    _requests = new TokenBucket(burst, rate, now);
                }
                else
                {
                    _requests.Resize(burst, rate, now, frequency);
                }
            }
            if (limits.ComputeMillisecondsPerMinute is { } budget)
            {
                var capacity = budget * 1000.0;
                if (_limits.ComputeMillisecondsPerMinute is null)
                {
                    _compute = new TokenBucket(capacity, capacity / 60, now);
                }
                else
                {
                    _compute.Resize(capacity, capacity / 60, now, frequency);
                }
            }
            _weight = weight;
            _limits = limits;
            // A higher in-flight limit (or none) lets waiting requests in now.
            while (_waiting.Count > 0 && (limits.MaxInFlight is not { } most || _inFlight < most))
            {
                Interlocked.Increment(ref _inFlight);
                if (!HandOver())
                {
                    Interlocked.Decrement(ref _inFlight);
                }
            }
        }
    }

    /// <summary>
    /// Admits a request before it is read or queued, or says which quota refuses it. A request over
    /// the in-flight limit waits for a slot while fewer than <c>max_queued</c> wait already. An
    /// admitted request must be followed by one <see cref="Exit"/> when it is answered.
    /// </summary>
    /// <exception cref="OperationCanceledException">The client left while waiting for a slot.</exception>
    public ValueTask<TenantRefusal?> EnterAsync(CancellationToken cancellation)
    {
        if (!_limits.Any)
        {
            Interlocked.Increment(ref _inFlight);
            return default;
        }
        TaskCompletionSource<TenantRefusal?> waiter;
        lock (_gate)
        {
            var limits = _limits;
            var now = _time.GetTimestamp();
            var frequency = _time.TimestampFrequency;
            if (limits.ComputeMillisecondsPerMinute is { } budget && _compute.Level(now, frequency) < -Slack)
            {
                Interlocked.Increment(ref _refusedCompute);
                return ValueTask.FromResult<TenantRefusal?>(new TenantRefusal("compute",
                    $"tenant '{Name}' has used its compute budget ({budget} device-ms per minute)", TenantRefusal.WholeSeconds(_compute.SecondsUntil(0))));
            }
            if (limits.RequestsPerSecond is { } rate && _requests.Level(now, frequency) < 1 - Slack)
            {
                Interlocked.Increment(ref _refusedRate);
                return ValueTask.FromResult<TenantRefusal?>(new TenantRefusal("rate",
                    $"tenant '{Name}' is over its request rate ({rate.ToString(CultureInfo.InvariantCulture)} per second, burst {_requests.Capacity.ToString(CultureInfo.InvariantCulture)})",
                    TenantRefusal.WholeSeconds(_requests.SecondsUntil(1))));
            }
            var slotFree = limits.MaxInFlight is not { } most || _inFlight < most;
            if (!slotFree && _waiting.Count >= (limits.MaxQueued ?? 0))
            {
                Interlocked.Increment(ref _refusedConcurrency);
                return ValueTask.FromResult<TenantRefusal?>(new TenantRefusal("concurrency",
                    $"tenant '{Name}' has {limits.MaxInFlight} requests in flight and {_waiting.Count} waiting, its limits", 1));
            }
            if (limits.RequestsPerSecond is not null)
            {
                _requests.Take(1);
            }
            if (slotFree)
            {
                Interlocked.Increment(ref _inFlight);
                return default;
            }
            waiter = new TaskCompletionSource<TenantRefusal?>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiting.AddLast(waiter);
        }
        return WaitAsync(waiter, cancellation);
    }

    private async ValueTask<TenantRefusal?> WaitAsync(TaskCompletionSource<TenantRefusal?> waiter, CancellationToken cancellation)
    {
        await using (cancellation.Register(() =>
        {
            lock (_gate)
            {
                _waiting.Remove(waiter);
            }
            waiter.TrySetCanceled(cancellation);
        }))
        {
            return await waiter.Task.ConfigureAwait(false);
        }
    }

    /// <summary>An admitted request was answered: its slot goes to the oldest waiting request.</summary>
    public void Exit()
    {
        if (_limits.MaxInFlight is null)
        {
            // Nobody waits without an in-flight limit: removing it (Apply) lets every waiter in.
            Interlocked.Decrement(ref _inFlight);
            return;
        }
        lock (_gate)
        {
            // The slot passes on unless a reload lowered the limit below what is in flight.
            if ((_limits.MaxInFlight is not { } most || _inFlight <= most) && HandOver())
            {
                return;
            }
            Interlocked.Decrement(ref _inFlight);
        }
    }

    /// <summary>Gives a slot to the oldest waiter still waiting; false when none is. Under _gate.</summary>
    private bool HandOver()
    {
        while (_waiting.First is { } first)
        {
            _waiting.RemoveFirst();
            if (first.Value.TrySetResult(null))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Charges a request's share of its batch's compute to the budget and the usage.</summary>
    public override void ChargeCompute(string model, int rows, long computeMicroseconds)
    {
        Usage(model).RecordCompute(computeMicroseconds);
        if (_limits.ComputeMillisecondsPerMinute is not null)
        {
            lock (_gate)
            {
                _compute.Level(_time.GetTimestamp(), _time.TimestampFrequency);
                _compute.Take(computeMicroseconds);
            }
        }
    }

    /// <summary>The tenant's usage of <paramref name="model"/> (created at its first request).</summary>
    public ModelUsage Usage(string model) => _usage.GetOrAdd(model, static _ => new ModelUsage());

    /// <summary>Every model the tenant has used, with its counters.</summary>
    public IEnumerable<KeyValuePair<string, ModelUsage>> Models => _usage;
}
