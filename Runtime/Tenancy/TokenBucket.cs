namespace Fabrik.Tenancy;

/// <summary>
/// A token bucket on a <see cref="TimeProvider"/>'s timestamps: it holds up to
/// <see cref="Capacity"/> tokens and refills at <see cref="PerSecond"/>. Its level may go below
/// zero when something is charged after the fact (compute time), and then refills from there.
/// </summary>
/// <remarks>Not thread-safe: the owning <see cref="Tenant"/> holds its lock around every call.</remarks>
internal struct TokenBucket
{
    private double _level;
    private long _stamp;

    /// <summary>A full bucket.</summary>
    public TokenBucket(double capacity, double perSecond, long now)
    {
        Capacity = capacity;
        PerSecond = perSecond;
        _level = capacity;
        _stamp = now;
    }

    public double Capacity { get; private set; }

    public double PerSecond { get; private set; }

    /// <summary>Tokens held after refilling to <paramref name="now"/>.</summary>
    public double Level(long now, long frequency)
    {
        if (now > _stamp)
        {
            _level = Math.Min(Capacity, _level + (now - _stamp) * PerSecond / frequency);
            _stamp = now;
        }
        return _level;
    }

    /// <summary>Takes <paramref name="tokens"/> (the caller has checked the level).</summary>
    public void Take(double tokens) => _level -= tokens;

    /// <summary>Seconds until the level reaches <paramref name="target"/> at the refill rate (0 if it has).</summary>
    public readonly double SecondsUntil(double target) => _level >= target ? 0 : (target - _level) / PerSecond;

    /// <summary>A reload changed the size or rate: the tokens held stay, cut to the new size.</summary>
    public void Resize(double capacity, double perSecond, long now, long frequency)
    {
        Level(now, frequency);
        Capacity = capacity;
        PerSecond = perSecond;
        _level = Math.Min(_level, capacity);
    }
}
