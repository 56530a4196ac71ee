using System.Collections.Concurrent;
using System.Numerics;
using System.Runtime.InteropServices;
using Prometheus;

namespace Fabrik.Observability.Metrics;

/// <summary>
/// Makes a scrape read every histogram at one instant. prometheus-net's histograms are
/// thread-safe but not atomic: a scrape sums the buckets for <c>_count</c>, then reads them again
/// for the <c>le</c> lines, so an observation in between leaves <c>_count</c> below the
/// <c>+Inf</c> bucket, which the exposition formats forbid.
/// </summary>
/// <remarks>
/// Recording threads never wait. Each observation enters a per-processor stripe of counters for
/// the length of one <see cref="Histogram.Child.Observe(double)"/>. <see cref="Close"/> (the scrape)
/// raises a flag and waits until every stripe is empty; an observation that sees the flag is
/// parked in a queue instead, and parked observations are applied while the gate is closed (at
/// the next <see cref="Close"/>) or just after it opens. Close and Open are called by one scrape at
/// a time (the caller holds its own scrape lock).
/// </remarks>
internal sealed class ScrapeGate
{
    private readonly Stripe[] _inside;
    private readonly int _stripeMask;
    private readonly ConcurrentQueue<(Histogram.Child Child, double Value)> _parked = new();
    private int _closed;

    public ScrapeGate()
    {
        var stripes = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(1, Environment.ProcessorCount));
        _inside = new Stripe[stripes];
        _stripeMask = stripes - 1;
    }

    /// <summary>Observations parked so far that no Close or Open has applied yet (for tests).</summary>
    public int ParkedCount => _parked.Count;

    /// <summary>Records <paramref name="value"/> in <paramref name="child"/>, now if no scrape is reading,
    /// otherwise once it has read.</summary>
    public void Observe(Histogram.Child child, double value)
    {
        ref var inside = ref _inside[Thread.GetCurrentProcessorId() & _stripeMask].Count;
        // Interlocked is a full fence on both sides: either Close sees this stripe non-zero and
        // waits, or this thread sees the flag Close raised.
        Interlocked.Increment(ref inside);
        if (Volatile.Read(ref _closed) == 0)
        {
            child.Observe(value);
        }
        else
        {
            _parked.Enqueue((child, value));
        }
        Interlocked.Decrement(ref inside);
    }

    /// <summary>Stops observations reaching the histograms and returns once none is under way;
    /// then applies what was parked since the last scrape.</summary>
    public void Close()
    {
        Interlocked.Exchange(ref _closed, 1);
        for (var i = 0; i < _inside.Length; i++)
        {
            var spin = new SpinWait();
            while (Volatile.Read(ref _inside[i].Count) != 0)
            {
                spin.SpinOnce();
            }
        }
        ApplyParked();
    }

    /// <summary>Lets observations reach the histograms again, and applies those parked while closed.</summary>
    public void Open()
    {
        Volatile.Write(ref _closed, 0);
        ApplyParked();
    }

    private void ApplyParked()
    {
        while (_parked.TryDequeue(out var parked))
        {
            parked.Child.Observe(parked.Value);
        }
    }

    /// <summary>One counter per cache line, so processors entering their own stripe do not contend.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 128)]
    private struct Stripe
    {
        [FieldOffset(0)]
        public int Count;
    }
}
