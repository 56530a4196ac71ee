namespace Fabrik.Client;

/// <summary>
/// When and how a call is tried again. A call is retried only when the server was busy or could
/// not be reached, so it cannot have run: HTTP 503 and 429, gRPC UNAVAILABLE and
/// RESOURCE_EXHAUSTED, a connection that could not be opened. The wait before each retry is the
/// server's Retry-After (HTTP) or <c>grpc-retry-pushback-ms</c> (gRPC) when it sends one, and
/// otherwise an exponential backoff with jitter. Both <see cref="MaxAttempts"/> and
/// <see cref="MaxElapsed"/> bound the whole: a wait that would end past <see cref="MaxElapsed"/>
/// is not started, and the last error is thrown instead. Streams are never retried.
/// </summary>
public sealed class RetryPolicy
{
    /// <summary>Attempts in all, the first included (default 4).</summary>
    public int MaxAttempts { get; set; } = 4;

    /// <summary>The backoff before the first retry; it doubles for each later one (default 100 ms).</summary>
    public TimeSpan InitialBackoff { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The longest backoff (default 5 s). A server's Retry-After is honoured even when longer.</summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The most time from the first attempt to the start of the last one (default 30 s).</summary>
    public TimeSpan MaxElapsed { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The share of each backoff that is random, 0 to 1 (default 0.5: a backoff of 200 ms
    /// waits 100 to 200 ms). Added to a server's Retry-After as well, up to this share of
    /// <see cref="InitialBackoff"/>, so that clients told the same time do not all return at once.</summary>
    public double Jitter { get; set; } = 0.5;

    /// <summary>Checks the settings; throws naming the first that is out of range.</summary>
    internal void Validate()
    {
        if (MaxAttempts < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxAttempts), MaxAttempts, "at least one attempt is needed");
        }
        if (InitialBackoff < TimeSpan.Zero || MaxBackoff < InitialBackoff || MaxElapsed < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(InitialBackoff), "backoffs and the elapsed bound must be non-negative, with MaxBackoff at least InitialBackoff");
        }
        if (Jitter is < 0 or > 1 || double.IsNaN(Jitter))
        {
            throw new ArgumentOutOfRangeException(nameof(Jitter), Jitter, "jitter is a share from 0 to 1");
        }
    }
}
