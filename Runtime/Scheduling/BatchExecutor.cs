using System.Diagnostics;
using Fabrik.Configuration;
using Fabrik.Errors;
using Fabrik.Execution;
using Fabrik.Observability;
using Fabrik.Tensors;

namespace Fabrik.Scheduling;

/// <summary>
/// Runs batches on one instance, one step after another: gather the requests' inputs into one
/// batch (a single request runs on its own buffers), run, scatter the outputs per request, and
/// answer. When the backend refuses a batch because of some request's values (InvalidArgument),
/// each request runs again alone, so that only the requests the model refuses fail. Records
/// queue and compute statistics, trace timelines and the backend's health.
/// </summary>
/// <remarks>Ownership: owns its instance (disposed with it) and the gathered and scattered
/// buffers until they become a response's; see <see cref="IBatchExecutor"/> for the batch.
/// Threading: one batch at a time, as the instance itself requires.</remarks>
internal sealed partial class BatchExecutor(
    IModelInstance instance,
    string modelName,
    ModelStatistics statistics,
    BackendHealth health,
    RequestCompletion completion,
    TensorMemoryPool pool,
    TimeProvider time,
    ILogger logger) : IBatchExecutor
{
    public string Device => instance.Device;

    public void Execute(List<PendingRequest> batch)
    {
        var start = time.GetTimestamp();
        var startTimestamp = Stopwatch.GetTimestamp();
        var totalRows = 0;
        foreach (var pending in batch)
        {
            var queueTicks = ToStopwatchTicks(start - pending.EnqueuedTimestamp);
            statistics.Queue.Record(queueTicks);
            if (pending.Request.Timeline is { } timeline)
            {
                timeline.ExecutionStartTimestamp = startTimestamp;
                timeline.QueueTicks = queueTicks;
            }
            pending.CancellationRegistration.Dispose();
            totalRows += pending.Rows;
        }

        TensorBuffer?[]? gathered = null;
        TensorBuffer[]? outputs = null;
        var inBackend = false; // only the backend's own failures count against its health
        try
        {
            var inputs = batch.Count == 1 ? batch[0].Request.Inputs : gathered = BatchAssembler.Gather(batch, totalRows, pool);
            var timings = default(ExecutionTimings);
            var timeLeft = RunBudget(batch);
            inBackend = true;
            outputs = instance.Run(inputs, ref timings, timeLeft);
            inBackend = false;
            RecordSuccess(batch, totalRows, timings);
            if (batch.Count == 1)
            {
                completion.Succeed(batch[0], outputs);
                outputs = null; // now the response's
            }
            else
            {
                var split = BatchAssembler.Scatter(outputs, batch, totalRows, pool, modelName);
                for (var i = 0; i < batch.Count; i++)
                {
                    completion.Succeed(batch[i], split[i]);
                }
            }
        }
        catch (Exception e)
        {
            var error = ToClientError(e, inBackend);
            if (inBackend && error.Kind == ErrorKind.InvalidArgument && batch.Count > 1)
            {
                // Some request's values made the whole batch fail: run each alone, so that only
                // the requests the model refuses fail and the others are answered.
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
        finally
        {
            if (gathered is not null)
            {
                BatchAssembler.Dispose(gathered);
            }
            if (outputs is not null)
            {
                BatchAssembler.Dispose(outputs);
            }
        }
    }

    /// <summary>Runs one request of a batch that failed, by itself.</summary>
    private void RunAlone(PendingRequest pending)
    {
        TensorBuffer[]? outputs = null;
        try
        {
            var timings = default(ExecutionTimings);
            outputs = instance.Run(pending.Request.Inputs, ref timings, RunBudget([pending]));
            RecordSuccess([pending], pending.Rows, timings);
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

    private void RecordSuccess(List<PendingRequest> batch, int rows, in ExecutionTimings timings)
    {
        statistics.RecordExecution(rows, batch.Count, timings.InputTicks, timings.InferTicks, timings.OutputTicks);
        health.RecordSuccess();
        foreach (var pending in batch)
        {
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
    private TimeSpan? RunBudget(List<PendingRequest> batch)
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

    public void Dispose() => instance.Dispose();

    private static partial class Log
    {
        [LoggerMessage(EventId = 200, Level = LogLevel.Error, Message = "Model '{Model}' failed on {Device}")]
        public static partial void ExecutionFailed(ILogger logger, Exception exception, string model, string device);
    }
}
