using System.Diagnostics;
using Fabrik.Observability.Metrics;

namespace Fabrik.Observability;

/// <summary>
/// The statistics extension's counters for one model version: requests that succeeded or failed,
/// time in the queue and in the three compute phases, rows inferred and executions run, and the
/// same compute split per batch size.
/// </summary>
/// <remarks>Thread-safe; every counter is updated with Interlocked. Per-batch-size entries are
/// created once, up front, for batch sizes 1 to max_batch_size.</remarks>
internal sealed class ModelStatistics
{
    private readonly BatchStatistics[] _batches;
    private readonly long[] _failures = new long[4]; // by FailureReason
    private readonly ModelInstruments? _instruments;
    private long _inferenceCount;
    private long _executionCount;
    private long _lastInferenceMilliseconds;

    /// <param name="maxBatchSize">The model's max_batch_size.</param>
    /// <param name="instruments">Where the metrics endpoint's histograms record this version's
    /// latencies and batch sizes; null when metrics are off.</param>
    public ModelStatistics(int maxBatchSize, ModelInstruments? instruments = null)
    {
        _instruments = instruments;
        Success = new(instruments?.Request);
        Queue = new(instruments?.Queue);
        ComputeInput = new(instruments?.ComputeInput);
        ComputeInfer = new(instruments?.ComputeInfer);
        ComputeOutput = new(instruments?.ComputeOutput);
        _batches = new BatchStatistics[Math.Max(1, maxBatchSize) + 1];
        for (var i = 1; i < _batches.Length; i++)
        {
            _batches[i] = new BatchStatistics(i);
        }
    }

    public StatisticDuration Success { get; }

    public StatisticDuration Fail { get; } = new();

    public StatisticDuration Queue { get; }

    public StatisticDuration ComputeInput { get; }

    public StatisticDuration ComputeInfer { get; }

    public StatisticDuration ComputeOutput { get; }

    /// <summary>Requests answered from the response cache, and the time spent looking up and
    /// copying out their responses.</summary>
    public StatisticDuration CacheHit { get; } = new();

    /// <summary>Successful requests the response cache did not hold, and the time spent looking
    /// them up and inserting their responses.</summary>
    public StatisticDuration CacheMiss { get; } = new();

    /// <summary>True when this version's responses go through the server's response cache, so the
    /// metrics endpoint reports its cache counters (Triton reports them only for such models).</summary>
    public bool CachesResponses { get; init; }

    /// <summary>Rows inferred: a request of batch size 8 counts 8.</summary>
    public long InferenceCount => Interlocked.Read(ref _inferenceCount);

    /// <summary>Model executions: a batch of several requests counts 1.</summary>
    public long ExecutionCount => Interlocked.Read(ref _executionCount);

    /// <summary>Milliseconds since the Unix epoch of the last inference; 0 before the first.</summary>
    public long LastInferenceMilliseconds => Interlocked.Read(ref _lastInferenceMilliseconds);

    /// <summary>Requests waiting in the model's queue now; set by the scheduler that owns them.</summary>
    public Func<int>? PendingRequests { get; set; }

    /// <summary>Failed requests with <paramref name="reason"/>.</summary>
    public long Failures(FailureReason reason) => Interlocked.Read(ref _failures[(int)reason]);

    /// <summary>Batch sizes that have run at least once.</summary>
    public IEnumerable<BatchStatistics> ExecutedBatches => _batches.Skip(1).Where(batch => batch.ComputeInfer.Count > 0);

    /// <summary>Records one execution of <paramref name="batchSize"/> rows made of
    /// <paramref name="requestCount"/> requests, with the Stopwatch ticks of its three compute
    /// phases. Triton counts the compute phases per request.</summary>
    public void RecordExecution(int batchSize, int requestCount, long inputTicks, long inferTicks, long outputTicks)
    {
        Interlocked.Add(ref _inferenceCount, batchSize);
        Interlocked.Increment(ref _executionCount);
        Interlocked.Exchange(ref _lastInferenceMilliseconds, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        ComputeInput.Record(inputTicks, requestCount);
        ComputeInfer.Record(inferTicks, requestCount);
        ComputeOutput.Record(outputTicks, requestCount);
        _instruments?.RecordExecution(batchSize, requestCount, inputTicks + inferTicks + outputTicks);
        if ((uint)batchSize < (uint)_batches.Length)
        {
            var batch = _batches[batchSize];
            batch.ComputeInput.Record(inputTicks);
            batch.ComputeInfer.Record(inferTicks);
            batch.ComputeOutput.Record(outputTicks);
        }
    }

    /// <summary>Records a request answered from the response cache, as Triton counts one: a success
    /// (from its receipt) that waited in no queue and ran nothing, so the inference and execution
    /// counts do not move.</summary>
    public void RecordCacheHit(long receivedTimestamp, long lookupTicks)
    {
        Interlocked.Exchange(ref _lastInferenceMilliseconds, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        Queue.Record(0);
        CacheHit.Record(lookupTicks);
        Success.Record(Stopwatch.GetTimestamp() - receivedTimestamp);
    }

    /// <summary>Records an ensemble request that succeeded, as Triton counts one: a success (from
    /// its receipt) of <paramref name="rows"/> inferences; its executions are its steps' models'
    /// own, so the execution count does not move.</summary>
    public void RecordEnsembleSuccess(long receivedTimestamp, int rows)
    {
        Interlocked.Add(ref _inferenceCount, rows);
        Interlocked.Exchange(ref _lastInferenceMilliseconds, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        Success.Record(Stopwatch.GetTimestamp() - receivedTimestamp);
    }

    /// <summary>Records a request that failed after reaching the model, from its receipt.</summary>
    public void RecordFailure(long receivedTimestamp, FailureReason reason = FailureReason.Other)
    {
        Interlocked.Increment(ref _failures[(int)reason]);
        Fail.Record(Stopwatch.GetTimestamp() - receivedTimestamp);
    }

    public static long ToNanoseconds(long stopwatchTicks) =>
        (long)(stopwatchTicks * (1_000_000_000.0 / Stopwatch.Frequency));
}
