using System.Collections.Concurrent;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;

namespace Fabrik.Security;

/// <summary>
/// The connections of one mutual-TLS listener that are open now, each with the certificate its
/// client presented. The handshake checks a certificate once; a keep-alive HTTP connection or a
/// gRPC channel can then stay open for hours. So when the client CA or CRL file changes, and once
/// a minute for expiry, every open connection's certificate is checked again and the connections
/// it no longer passes are closed: a revocation takes effect on open connections within one
/// reload interval, not when the client hangs up.
/// Locking: the dictionary is concurrent (connections come and go on Kestrel's threads); the
/// sweep runs on the timer's thread, one at a time (a sweep still running makes the next tick
/// return at once).
/// </summary>
internal sealed class OpenClientConnections : IDisposable
{
    private static readonly TimeSpan FullSweepInterval = TimeSpan.FromMinutes(1);

    private readonly ConcurrentDictionary<ConnectionContext, X509Certificate2> _open = new();
    private readonly Func<(object Authorities, object? Revocation)> _acceptanceState;
    private readonly Func<X509Certificate2, string?> _refusal;
    private readonly Action<string, X509Certificate2, string> _closed;
    private readonly Timer _timer;
    private readonly Lock _sweeping = new();
    private (object Authorities, object? Revocation) _lastState;
    private long _nextFullSweep;

    /// <param name="acceptanceState">What the acceptance depends on: the client CAs and the CRLs,
    /// read afresh (reading lets the files reload); other objects than last time mean they changed.</param>
    /// <param name="refusal">Why a certificate is refused now, or null.</param>
    /// <param name="closed">Told of each connection closed: its local end point, its certificate and the reason.</param>
    /// <param name="checkInterval">How often the files are looked at.</param>
    public OpenClientConnections(Func<(object Authorities, object? Revocation)> acceptanceState, Func<X509Certificate2, string?> refusal, Action<string, X509Certificate2, string> closed, TimeSpan checkInterval)
    {
        _acceptanceState = acceptanceState;
        _refusal = refusal;
        _closed = closed;
        _lastState = acceptanceState();
        _nextFullSweep = Environment.TickCount64 + (long)FullSweepInterval.TotalMilliseconds;
        var period = checkInterval < TimeSpan.FromMilliseconds(100) ? TimeSpan.FromMilliseconds(100) : checkInterval;
        _timer = new Timer(_ => Sweep(), null, period, period);
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
            if (ReferenceEquals(state.Authorities, _lastState.Authorities) && ReferenceEquals(state.Revocation, _lastState.Revocation) && now < _nextFullSweep)
            {
                return;
            }
            _lastState = state;
            _nextFullSweep = now + (long)FullSweepInterval.TotalMilliseconds;
            foreach (var (connection, certificate) in _open)
            {
                if (_refusal(certificate) is { } reason)
                {
                    _open.TryRemove(connection, out _);
                    _closed(connection.LocalEndPoint?.ToString() ?? "unknown", certificate, reason);
                    connection.Abort(new ConnectionAbortedException("the client certificate is no longer accepted"));
                }
            }
        }
        finally
        {
            _sweeping.Exit();
        }
    }

    public void Dispose() => _timer.Dispose();
}
