using System.Diagnostics;
using Fabrik.Configuration;
using Fabrik.Errors;
using Fabrik.Execution;
using Fabrik.Observability;
using Fabrik.Tensors;

namespace Fabrik.Scheduling;

/// <summary>
/// What every executor does around a batch, however it runs it: queue statistics and trace
/// timelines when the batch starts, compute statistics and the backend's health when it ends, the
/// run budget the requests' timeouts leave, the error a failure gives the client, and the re-run
/// of each request alone when the model refused some request's values.
/// </summary>
/// <remarks>Thread-safe: an executor's stages call it from their own threads, each for a
/// different batch.</remarks>
internal sealed partial class BatchBookkeeping(
    IModelInstance instance,
    string modelName,
    ModelStatistics statistics,
    BackendHealth health,
    RequestCompletion completion,
    TimeProvider time,
    ILogger logger)
{
    public string ModelName => modelName;

    public RequestCompletion Completion => completion;

    /// <summary>The batch starts: records each request's queue time and trace start, and ends its
    /// queue-cancellation registration. Returns the batch's rows.</summary>
    public int Begin(List<PendingRequest> batch)
    {
        var start = time.GetTimestamp();
        var startTimestamp = Stopwatch.GetTimestamp();
        var totalRows = 0;
        foreach (var pending in batch)
        {
            var queueTicks = ToStopwatchTicks(start - pending.EnqueuedTimestamp);
            if (!pending.Filler)
            {
                statistics.Queue.Record(queueTicks);
            }
            if (pending.Request.Timeline is { } timeline)
            {
                timeline.ExecutionStartTimestamp = startTimestamp;
                timeline.QueueTicks = queueTicks;
            }
            pending.CancellationRegistration.Dispose();
            totalRows += pending.Rows;
        }
        return totalRows;
    }

    /// <summary>Records a successful execution in the statistics, the traces and the health.</summary>
    public void RecordSuccess(List<PendingRequest> batch, int rows, in ExecutionTimings timings)
    {
        // The sequence batcher's empty slots ran as rows but are nobody's inferences.
        var fillers = 0;
        foreach (var pending in batch)
        {
            fillers += pending.Filler ? 1 : 0;
        }
        statistics.RecordExecution(rows - fillers, batch.Count - fillers, timings.InputTicks, timings.InferTicks, timings.OutputTicks);
        health.RecordSuccess();
        // Each tenant is charged its requests' share of the batch's compute, in proportion to rows.
        var computeMicroseconds = (timings.InputTicks + timings.InferTicks + timings.OutputTicks) * 1_000_000.0 / Stopwatch.Frequency;
        foreach (var pending in batch)
        {
            if (pending.Request.Tenant is { } tenant && rows > 0)
            {
                tenant.ChargeCompute(modelName, pending.Rows, (long)Math.Round(computeMicroseconds * pending.Rows / rows));
            }
            if (pending.Request.Timeline is { } timeline)
            {
                timeline.ComputeInputTicks = timings.InputTicks;
                timeline.ComputeInferTicks = timings.InferTicks;
                timeline.ComputeOutputTicks = timings.OutputTicks;
            }
        }
    }

    /// <summary>The time the requests' timeouts leave a batch's run: until the latest of their
    /// deadlines, so that a run is stopped only once every request in it is past its own. Null when
    /// any request has no timeout that rejects (a DELAY timeout only lowers a request's place in
    /// the queue).</summary>
    public TimeSpan? RunBudget(List<PendingRequest> batch)
    {
        var latest = long.MinValue;
        foreach (var pending in batch)
        {
            if (pending.Deadline == long.MaxValue || pending.OnTimeout != TimeoutAction.Reject)
            {
                return null;
            }
            latest = Math.Max(latest, pending.Deadline);
        }
        return time.GetElapsedTime(time.GetTimestamp(), latest);
    }

    /// <summary>Answers every request of a batch that failed with <paramref name="e"/>. When the
    /// backend refused some request's values (InvalidArgument) and <paramref name="mayRunAlone"/>,
    /// each request runs again alone through <see cref="IModelInstance.Run"/>, so that only the
    /// requests the model refuses fail; only a caller where that run may happen (the instance's
    /// run, or its run stage) allows it.</summary>
    public void Fail(List<PendingRequest> batch, Exception e, bool inBackend, bool mayRunAlone = true)
    {
        var error = ToClientError(e, inBackend);
        if (mayRunAlone && inBackend && error.Kind == ErrorKind.InvalidArgument && batch.Count > 1)
        {
            foreach (var pending in batch)
            {
                RunAlone(pending);
            }
            return;
        }
        foreach (var pending in batch)
        {
            completion.Fail(pending, error);
        }
    }

    /// <summary>Answers every request of a batch with <paramref name="error"/>, which is not the
    /// backend's (a stalled or stopped pipeline).</summary>
    public void Fail(List<PendingRequest> batch, InferenceException error)
    {
        foreach (var pending in batch)
        {
            completion.Fail(pending, error);
        }
    }

    /// <summary>Runs one request of a batch that failed, by itself.</summary>
    private void RunAlone(PendingRequest pending)
    {
        TensorBuffer[]? outputs = null;
        List<PendingRequest> alone = [pending];
        try
        {
            var timings = default(ExecutionTimings);
            outputs = instance.Run(pending.Request.Inputs, ref timings, RunBudget(alone));
            RecordSuccess(alone, pending.Rows, timings);
            completion.Succeed(pending, outputs);
            outputs = null; // now the response's
        }
        catch (Exception e)
        {
            completion.Fail(pending, ToClientError(e, inBackend: true));
        }
        finally
        {
            if (outputs is not null)
            {
                BatchAssembler.Dispose(outputs);
            }
        }
    }

    /// <summary>The error a failed execution gives its requests. A failure of the backend itself
    /// (Internal) is logged and counts against the model's health; a request the model refused
    /// (InvalidArgument) does neither.</summary>
    private InferenceException ToClientError(Exception e, bool inBackend)
    {
        var error = e as InferenceException
            ?? (e is TensorPoolExhaustedException ? InferenceException.Overloaded(e.Message) : null)
            ?? new InferenceException(ErrorKind.Internal, $"model '{modelName}' failed: {e.Message}", e);
        if (e is not (InferenceException or TensorPoolExhaustedException))
        {
            Log.ExecutionFailed(logger, e, modelName, instance.Device);
        }
        if (inBackend && error.Kind == ErrorKind.Internal)
        {
            health.RecordFailure(error.Message);
        }
        return error;
    }

    private long ToStopwatchTicks(long timeProviderTicks) =>
        (long)(timeProviderTicks * ((double)Stopwatch.Frequency / time.TimestampFrequency));

    private static partial class Log
    {
        [LoggerMessage(EventId = 200, Level = LogLevel.Error, Message = "Model '{Model}' failed on {Device}")]
        public static partial void ExecutionFailed(ILogger logger, Exception exception, string model, string device);
    }
}
