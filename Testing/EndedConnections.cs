using System.Diagnostics.Metrics;

namespace Fabrik.Testing;

/// <summary>
/// Counts the connections Kestrel has finished with on one port, from its own
/// <c>kestrel.connection.duration</c> measurements (recorded once a connection's processing has
/// ended, after anything Kestrel logs about it). A test waits on this instead of on the clock.
/// </summary>
public sealed class EndedConnections : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly int _port;
    private int _count;

    public EndedConnections(int port)
    {
        _port = port;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "Microsoft.AspNetCore.Server.Kestrel" && instrument.Name == "kestrel.connection.duration")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<double>((_, _, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "server.port" && Convert.ToInt32(tag.Value, System.Globalization.CultureInfo.InvariantCulture) == _port)
                {
                    Interlocked.Increment(ref _count);
                }
            }
        });
        _listener.Start();
    }

    public int Count => Volatile.Read(ref _count);

    /// <summary>Waits until at least <paramref name="count"/> connections have ended (a minute at
    /// most, as a guard against a hang, not a timing assertion).</summary>
    public Task WaitForAsync(int count) =>
        Eventually.UntilAsync(() => Count >= count, $"{count} connections on port {_port} to end", TimeSpan.FromMinutes(1));

    public void Dispose() => _listener.Dispose();
}
