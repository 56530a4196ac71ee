namespace Fabrik.Execution;

/// <summary>Where one execution spent its time, in Stopwatch ticks; filled by the instance. The
/// scheduler hands the three values on to statistics and tracing, so Observability needs no
/// Execution type.</summary>
internal struct ExecutionTimings
{
    public long InputTicks;
    public long InferTicks;
    public long OutputTicks;
}
