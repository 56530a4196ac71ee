using System.Collections.Concurrent;

namespace Fabrik.Security.Access;

/// <summary>
/// The failed-authentication limit, per client address: a client may fail <c>limit</c> times
/// within a minute of its first failure; the failure that reaches the limit blocks it for a whole
/// minute, and then its count starts again. Time comes from the <see cref="TimeProvider"/>.
/// <para>
/// Memory is bounded: at most <c>capacity</c> clients are tracked. When the table is full, a new
/// client first displaces the clients whose minute is over; failing that, the unblocked client
/// that started counting longest ago; failing that (every tracked client blocked), the client
/// whose block ends first. A flood of distinct addresses therefore costs a fixed amount of
/// memory, and a blocked client is freed early only by a flood large enough to fill the table
/// with blocked clients, which already earns its sender as many guesses as the freed one.
/// </para>
/// <para>
/// Thread-safety: <see cref="BlockedFor"/> runs on every checked request and takes no lock (a
/// lookup and a volatile read); <see cref="RecordFailure"/> changes the table and the entries
/// under <c>_gate</c>.
/// </para>
/// </summary>
internal sealed class FailedAuthentications
{
    /// <summary>How many clients are tracked at most by default.</summary>
    public const int DefaultCapacity = 10_000;

    private readonly ConcurrentDictionary<string, Client> _clients = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private readonly TimeProvider _time;
    private readonly int _limit;
    private readonly int _capacity;
    private readonly long _minute;

    // The number of entries in _clients (its own Count takes every bucket lock); written under _gate.
    private int _tracked;

    /// <param name="limit">Failures allowed per client and minute; the one that reaches it blocks the client.</param>
    /// <param name="time">The clock.</param>
    /// <param name="capacity">How many clients are tracked at most.</param>
    public FailedAuthentications(int limit, TimeProvider time, int capacity = DefaultCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _limit = limit;
        _time = time;
        _capacity = capacity;
        _minute = time.TimestampFrequency * 60;
    }

    /// <summary>How many clients the table holds now (at most the capacity).</summary>
    public int TrackedClients => Volatile.Read(ref _tracked);

    /// <summary>How long <paramref name="client"/> stays blocked, or null when it may try.</summary>
    public TimeSpan? BlockedFor(string client)
    {
        if (Volatile.Read(ref _tracked) == 0 || !_clients.TryGetValue(client, out var entry))
        {
            return null;
        }
        var until = Volatile.Read(ref entry.BlockedUntil);
        if (until == 0)
        {
            return null;
        }
        var now = _time.GetTimestamp();
        return until > now ? _time.GetElapsedTime(now, until) : null;
    }

    /// <summary>Counts one failure of <paramref name="client"/>; returns whether it is now blocked.</summary>
    public bool RecordFailure(string client)
    {
        var now = _time.GetTimestamp();
        lock (_gate)
        {
            if (!_clients.TryGetValue(client, out var entry))
            {
                if (_tracked >= _capacity)
                {
                    MakeRoom(now);
                }
                entry = new Client { WindowStart = now };
                _clients[client] = entry;
                _tracked++;
            }
            else if (entry.BlockedUntil > now)
            {
                // A request that passed the check just before the block: the block stands as it is.
                return true;
            }
            else if (!entry.IsActive(now, _minute))
            {
                entry.WindowStart = now;
                entry.Failures = 0;
                Volatile.Write(ref entry.BlockedUntil, 0);
            }
            if (++entry.Failures < _limit)
            {
                return false;
            }
            Volatile.Write(ref entry.BlockedUntil, now + _minute);
            return true;
        }
    }

    /// <summary>Frees at least one place in the full table (see the class summary). Caller holds _gate.</summary>
    private void MakeRoom(long now)
    {
        List<string>? over = null;
        string? oldestCounting = null, soonestFreed = null;
        long oldestStart = long.MaxValue, soonestEnd = long.MaxValue;
        foreach (var (client, entry) in _clients)
        {
            if (!entry.IsActive(now, _minute))
            {
                (over ??= []).Add(client);
            }
            else if (entry.BlockedUntil == 0 && entry.WindowStart < oldestStart)
            {
                (oldestCounting, oldestStart) = (client, entry.WindowStart);
            }
            else if (entry.BlockedUntil != 0 && entry.BlockedUntil < soonestEnd)
            {
                (soonestFreed, soonestEnd) = (client, entry.BlockedUntil);
            }
        }
        foreach (var client in over ?? (IEnumerable<string>)[oldestCounting ?? soonestFreed!])
        {
            if (_clients.TryRemove(client, out _))
            {
                _tracked--;
            }
        }
    }

    /// <summary>One client's count. Fields change under the owner's _gate; BlockedUntil is also read without it.</summary>
    private sealed class Client
    {
        public long WindowStart;
        public int Failures;

        // The timestamp the block ends at, 0 when not blocked.
        public long BlockedUntil;

        /// <summary>Whether the client is still counting (its minute not over) or still blocked.</summary>
        public bool IsActive(long now, long minute) => BlockedUntil != 0 ? BlockedUntil > now : now - WindowStart < minute;
    }
}
