using System.Collections.Concurrent;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;

namespace Fabrik.Security.Transport;

/// <summary>
/// The connections of one mutual-TLS listener that are open now, each with the certificate its
/// client presented. The handshake checks a certificate once; a keep-alive HTTP connection or a
/// gRPC channel can then stay open for hours. So when the client CA or CRL file changes, and once
/// a minute for expiry, every open connection's certificate is checked again and the connections
/// it no longer passes are closed: a revocation takes effect on open connections within one
/// reload interval, not when the client hangs up.
/// Locking: the dictionary is concurrent (connections come and go on Kestrel's threads); the
/// sweep runs on the timer's thread, one at a time (a sweep still running makes the next tick
/// return at once). The timer starts with the first tracked connection, so a server that never
/// started never ticks, and stops when the server stops.
/// </summary>
internal sealed class OpenClientConnections : IDisposable
{
    private static readonly TimeSpan FullSweepInterval = TimeSpan.FromMinutes(1);

    /// <summary>How long after a change of the rules a newly tracked connection is checked
    /// again: its handshake may have been validated under the previous rules just before the
    /// sweep that applied the new ones, and only then reached <see cref="Track"/>.</summary>
    private static readonly long RecentChangeMs = (long)TimeSpan.FromSeconds(10).TotalMilliseconds;

    private readonly ConcurrentDictionary<ConnectionContext, X509Certificate2> _open = new();
    private readonly Func<(object Authorities, object? Revocation)> _acceptanceState;
    private readonly Func<X509Certificate2, string?> _refusal;
    private readonly Action<ConnectionContext, X509Certificate2, string> _closed;
    private readonly Action<Exception> _failed;
    private readonly TimeSpan _period;
    private readonly Lock _sweeping = new();
    private Timer? _timer;
    private bool _disposed;
    private (object Authorities, object? Revocation) _lastState;
    private long _nextFullSweep;
    private long _lastChange = long.MinValue / 2;

    /// <param name="acceptanceState">What the acceptance depends on: the client CAs and the CRLs,
    /// read afresh (reading lets the files reload); other objects than last time mean they changed.</param>
    /// <param name="refusal">Why a certificate is refused now, or null.</param>
    /// <param name="closed">Told of each connection closed (after it was aborted), with its certificate and the reason.</param>
    /// <param name="failed">Told when a check fails unexpectedly (the sweep goes on with the next connection).</param>
    /// <param name="checkInterval">How often the files are looked at.</param>
    public OpenClientConnections(Func<(object Authorities, object? Revocation)> acceptanceState, Func<X509Certificate2, string?> refusal,
        Action<ConnectionContext, X509Certificate2, string> closed, Action<Exception> failed, TimeSpan checkInterval)
    {
        _acceptanceState = acceptanceState;
        _refusal = refusal;
        _closed = closed;
        _failed = failed;
        _lastState = acceptanceState();
        _nextFullSweep = Environment.TickCount64 + (long)FullSweepInterval.TotalMilliseconds;
        _period = checkInterval < TimeSpan.FromMilliseconds(100) ? TimeSpan.FromMilliseconds(100) : checkInterval;
    }

    /// <summary>How many connections are tracked now.</summary>
    public int Count => _open.Count;

    /// <summary>Connection middleware, placed after TLS: tracks the connection while it is open.</summary>
    public ConnectionDelegate Track(ConnectionDelegate next) => async connection =>
    {
        var certificate = connection.Features.Get<ITlsConnectionFeature>()?.ClientCertificate;
        if (certificate is null)
        {
            await next(connection);
            return;
        }
        _open[connection] = certificate;
        StartTimer();
        if (Environment.TickCount64 - Volatile.Read(ref _lastChange) < RecentChangeMs)
        {
            Check(connection, certificate);
        }
        try
        {
            await next(connection);
        }
        finally
        {
            _open.TryRemove(connection, out _);
        }
    };

    /// <summary>Checks every open connection again when the rules changed or a minute passed.</summary>
    public void Sweep()
    {
        if (!_sweeping.TryEnter())
        {
            return;
        }
        try
        {
            var state = _acceptanceState();
            var now = Environment.TickCount64;
            var changed = !ReferenceEquals(state.Authorities, _lastState.Authorities) || !ReferenceEquals(state.Revocation, _lastState.Revocation);
            if (!changed && now < _nextFullSweep)
            {
                return;
            }
            if (changed)
            {
                Volatile.Write(ref _lastChange, now);
            }
            _lastState = state;
            _nextFullSweep = now + (long)FullSweepInterval.TotalMilliseconds;
            foreach (var (connection, certificate) in _open)
            {
                Check(connection, certificate);
            }
        }
        catch (Exception e)
        {
            // On a timer thread an exception would end the process; the next tick tries again.
            _failed(e);
        }
        finally
        {
            _sweeping.Exit();
        }
    }

    /// <summary>Closes <paramref name="connection"/> if its certificate no longer passes: aborted
    /// first, then reported, so that a failing report never leaves it open.</summary>
    private void Check(ConnectionContext connection, X509Certificate2 certificate)
    {
        try
        {
            if (_refusal(certificate) is { } reason)
            {
                _open.TryRemove(connection, out _);
                connection.Abort(new ConnectionAbortedException("the client certificate is no longer accepted"));
                _closed(connection, certificate, reason);
            }
        }
        catch (Exception e)
        {
            _failed(e);
        }
    }

    private void StartTimer()
    {
        if (Volatile.Read(ref _timer) is not null)
        {
            return;
        }
        lock (_sweeping)
        {
            if (_timer is null && !_disposed)
            {
                _timer = new Timer(_ => Sweep(), null, _period, _period);
            }
        }
    }

    /// <summary>Stops the timer and waits for a sweep in progress.</summary>
    public void Dispose()
    {
        Timer? timer;
        lock (_sweeping)
        {
            _disposed = true;
            timer = _timer;
        }
        timer?.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }
}
