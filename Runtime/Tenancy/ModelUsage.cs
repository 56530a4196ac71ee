namespace Fabrik.Tenancy;

/// <summary>
/// What one tenant used of one model since the server started: requests answered and failed,
/// rows, compute time and bytes. Counters only grow; readers take differences.
/// </summary>
/// <remarks>Thread-safe: protocol and scheduler threads add with interlocked operations.</remarks>
internal sealed class ModelUsage
{
    private long _requests;
    private long _rows;
    private long _failures;
    private long _computeMicroseconds;
    private long _bytesIn;
    private long _bytesOut;

    public long Requests => Volatile.Read(ref _requests);

    public long Rows => Volatile.Read(ref _rows);

    public long Failures => Volatile.Read(ref _failures);

    public long ComputeMicroseconds => Volatile.Read(ref _computeMicroseconds);

    public long BytesIn => Volatile.Read(ref _bytesIn);

    public long BytesOut => Volatile.Read(ref _bytesOut);

    /// <summary>A request answered successfully (counted as the statistics extension counts a success).</summary>
    public void RecordSuccess(int rows)
    {
        Interlocked.Increment(ref _requests);
        Interlocked.Add(ref _rows, rows);
    }

    /// <summary>A request that failed (counted as the statistics extension counts a failure).</summary>
    public void RecordFailure() => Interlocked.Increment(ref _failures);

    public void RecordCompute(long microseconds) => Interlocked.Add(ref _computeMicroseconds, microseconds);

    public void RecordBytes(long bytesIn, long bytesOut)
    {
        Interlocked.Add(ref _bytesIn, bytesIn);
        Interlocked.Add(ref _bytesOut, bytesOut);
    }

    /// <summary>The counters now.</summary>
    public UsageTotals Read() => new(Requests, Rows, Failures, ComputeMicroseconds, BytesIn, BytesOut);
}
