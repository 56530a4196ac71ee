using System.Collections.Concurrent;

namespace Fabrik.Tests.Client;

/// <summary>
/// A manual clock that records every wait asked of it (the due time of each timer created), so
/// a test can see exactly how long a client chose to wait, and move the clock by just that much.
/// </summary>
public sealed class RecordingClock : TimeProvider
{
    private readonly ManualTimeProvider _clock = new();
    private readonly ConcurrentQueue<TimeSpan> _waits = new();
    private int _passed;

    /// <summary>The waits asked for, in order.</summary>
    public IReadOnlyList<TimeSpan> Waits => [.. _waits];

    public override long TimestampFrequency => _clock.TimestampFrequency;

    public override long GetTimestamp() => _clock.GetTimestamp();

    public override DateTimeOffset GetUtcNow() => _clock.GetUtcNow();

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        _waits.Enqueue(dueTime);
        return _clock.CreateTimer(callback, state, dueTime, period);
    }

    /// <summary>Lets <paramref name="call"/> run to its end, passing each wait it asks for on the clock.</summary>
    public async Task<T> RunAsync<T>(Task<T> call)
    {
        while (!call.IsCompleted)
        {
            await Eventually.UntilAsync(() => call.IsCompleted || _waits.Count > _passed, "the call to end or to wait");
            if (!call.IsCompleted)
            {
                _clock.Advance(Waits[_passed++]);
            }
        }
        return await call;
    }
}
