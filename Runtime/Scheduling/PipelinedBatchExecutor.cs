using System.Diagnostics;
using Fabrik.Errors;
using Fabrik.Execution;
using Fabrik.Execution.Pipeline;
using Fabrik.Tensors;

namespace Fabrik.Scheduling;

/// <summary>
/// Runs batches on a staged instance as a pipeline (see <see cref="InstancePipeline"/>): the
/// caller of <see cref="Execute"/> gathers the batch straight into a free staging set and copies
/// it in, the run stage runs it, and the copy-out stage copies it back, scatters it into each
/// request's pooled buffers and answers. So while batch N runs, batch N+1 is gathered and copied
/// in and batch N−1 copied out and answered. Batches leave each stage in the order they entered.
/// </summary>
/// <remarks>
/// <see cref="Execute"/> returns once the batch is handed to the run stage; it waits for a free
/// set when all are in flight (at most the stall timeout, after which the batch fails with
/// Unavailable). A batch whose every client has gone away is answered as cancelled instead of being
/// copied in or run. Disposal drains the stages (each batch inside is answered), bounded by the
/// stall timeout; what is still inside then is answered with Unavailable.
/// Ownership: owns the instance through the pipeline, and the scattered buffers until they become
/// a response's. Threading: see <see cref="IBatchExecutor"/>; the estimates behind
/// <see cref="HoldTicks"/> are written by one stage each and read without a lock.
/// </remarks>
internal sealed class PipelinedBatchExecutor : IBatchExecutor
{
    /// <summary>How long a batch waits for a free staging set, and each stage for its drain.</summary>
    public static readonly TimeSpan DefaultStallTimeout = TimeSpan.FromSeconds(30);

    private readonly IStagedModelInstance _instance;
    private readonly BatchBookkeeping _books;
    private readonly TensorMemoryPool _pool;
    private readonly TimeProvider _time;
    private readonly TimeSpan _stallTimeout;
    private readonly InstancePipeline _pipeline;
    private readonly InFlightBatch[] _batches;
    private readonly long _holdMargin;
    private readonly Action _deviceIdle;

    // TimeProvider ticks. The run estimate (per batch) is written by the run stage, the copy-in
    // estimate (per row) by Execute's caller (one at a time); see Estimate.
    private long _runEstimate;
    private long _copyInPerRow;
    private long _runStartedAt;          // TimeProvider timestamp of the run in progress; 0 when none
    private long _runStartedStopwatch;   // the same as a Stopwatch timestamp, for the watchdog
    private int _ahead;                  // batches handed to the run stage whose run has not ended

    /// <param name="instance">The staged instance, the pipeline's from here on.</param>
    /// <param name="depth">Staging sets: the most batches in flight.</param>
    /// <param name="books">Statistics, health and answers.</param>
    /// <param name="pool">Where the scattered outputs come from, and the staging is counted.</param>
    /// <param name="time">The scheduler's clock, for the hold-back estimates.</param>
    /// <param name="deviceIdle">Called from the run stage when the device has nothing left to run,
    /// so that a loop holding a batch back on an estimate takes it now.</param>
    /// <param name="stallTimeout">How long a batch waits for a staging set, and a drain for each stage.</param>
    /// <exception cref="TensorPoolExhaustedException">The staging sets do not fit under the pool's
    /// limit; the instance stays the caller's.</exception>
    public PipelinedBatchExecutor(IStagedModelInstance instance, int depth, BatchBookkeeping books, TensorMemoryPool pool, TimeProvider time,
        Action deviceIdle, TimeSpan? stallTimeout = null)
    {
        _deviceIdle = deviceIdle;
        _instance = instance;
        _books = books;
        _pool = pool;
        _time = time;
        _stallTimeout = stallTimeout ?? DefaultStallTimeout;
        _holdMargin = time.TimestampFrequency / 1000;
        _batches = [.. Enumerable.Range(0, depth).Select(_ => new InFlightBatch())];
        _pipeline = new InstancePipeline(instance, depth, $"{books.ModelName} on {instance.Device}", RunStage, CopyOutStage, Fault, _stallTimeout);
    }

    public string Device => _instance.Device;

    public int PipelineDepth => _pipeline.Depth;

    public TimeSpan LongestRun
    {
        get
        {
            var started = Volatile.Read(ref _runStartedStopwatch);
            return started == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(started);
        }
    }

    public bool DeviceIdle => Volatile.Read(ref _ahead) == 0;

    /// <summary>The device's work ahead (the batches handed to it, less what the current run has
    /// done) minus what gathering and copying in <paramref name="rows"/> rows takes, and a
    /// millisecond to spare.</summary>
    public long HoldTicks(long now, int rows)
    {
        var ahead = Volatile.Read(ref _ahead);
        var run = Volatile.Read(ref _runEstimate);
        if (ahead <= 0 || run == 0)
        {
            return 0;
        }
        var startedAt = Volatile.Read(ref _runStartedAt);
        var busy = ahead * run - (startedAt == 0 ? 0 : Math.Clamp(now - startedAt, 0, run));
        return Math.Max(0, busy - (Volatile.Read(ref _copyInPerRow) * rows) - _holdMargin);
    }

    public void Execute(List<PendingRequest> batch)
    {
        var rows = _books.Begin(batch);
        if (InFlightBatch.AllCancelled(batch))
        {
            Cancel(batch);
            return;
        }
        if (_pipeline.Acquire() is not { } set)
        {
            _books.Fail(batch, InferenceException.Unavailable(
                $"model '{_books.ModelName}': the device has not finished a batch in {_stallTimeout.TotalSeconds:0} s"));
            return;
        }
        var flight = _batches[set.Index];
        flight.Start(batch, rows);
        var started = Stopwatch.GetTimestamp();
        var startedAt = _time.GetTimestamp();
        var inBackend = false;
        try
        {
            Gather(flight, set);
            inBackend = true;
            _instance.CopyIn(set);
        }
        catch (Exception e)
        {
            flight.TryClaim();
            _books.Fail(flight.Requests, e, inBackend, mayRunAlone: false);
            Finish(set, flight);
            return;
        }
        flight.Timings.InputTicks = Stopwatch.GetTimestamp() - started;
        Volatile.Write(ref _copyInPerRow, Estimate(_copyInPerRow, (_time.GetTimestamp() - startedAt) / Math.Max(1, rows)));
        Interlocked.Increment(ref _ahead);
        if (!_pipeline.ToRun(set))
        {
            Interlocked.Decrement(ref _ahead);
            flight.TryClaim();
            _books.Fail(flight.Requests, Stopped());
            Finish(set, flight);
        }
    }

    private void RunStage(StagingSet set)
    {
        var flight = _batches[set.Index];
        if (_pipeline.Aborted)
        {
            return; // the drain answers it
        }
        if (InFlightBatch.AllCancelled(flight.Requests))
        {
            if (Interlocked.Decrement(ref _ahead) == 0)
            {
                _deviceIdle();
            }
            if (flight.TryClaim())
            {
                Cancel(flight.Requests);
                Finish(set, flight);
            }
            return;
        }
        var startedAt = _time.GetTimestamp();
        var started = Stopwatch.GetTimestamp();
        Volatile.Write(ref _runStartedAt, startedAt);
        Volatile.Write(ref _runStartedStopwatch, started);
        try
        {
            _instance.Run(set, _books.RunBudget(flight.Requests));
        }
        catch (Exception e)
        {
            EndRun();
            if (flight.TryClaim())
            {
                _books.Fail(flight.Requests, e, inBackend: true); // refused values: each re-runs alone, here
                Finish(set, flight);
            }
            return;
        }
        flight.Timings.InferTicks = Stopwatch.GetTimestamp() - started;
        Volatile.Write(ref _runEstimate, Estimate(_runEstimate, _time.GetTimestamp() - startedAt));
        EndRun();
        if (!_pipeline.ToCopyOut(set) && flight.TryClaim())
        {
            _books.Fail(flight.Requests, Stopped());
            Finish(set, flight);
        }
    }

    private void EndRun()
    {
        Volatile.Write(ref _runStartedStopwatch, 0);
        Volatile.Write(ref _runStartedAt, 0);
        if (Interlocked.Decrement(ref _ahead) == 0)
        {
            _deviceIdle();
        }
    }

    private void CopyOutStage(StagingSet set)
    {
        var flight = _batches[set.Index];
        var started = Stopwatch.GetTimestamp();
        TensorBuffer[][] split;
        var inBackend = true;
        try
        {
            _instance.CopyOut(set);
            inBackend = false;
            split = Scatter(flight, set);
        }
        catch (Exception e)
        {
            if (flight.TryClaim())
            {
                _books.Fail(flight.Requests, e, inBackend, mayRunAlone: false);
                Finish(set, flight);
            }
            return;
        }
        if (!flight.TryClaim())
        {
            foreach (var outputs in split)
            {
                BatchAssembler.Dispose(outputs);
            }
            return;
        }
        flight.Timings.OutputTicks = Stopwatch.GetTimestamp() - started;
        _books.RecordSuccess(flight.Requests, flight.Rows, flight.Timings);
        for (var i = 0; i < split.Length; i++)
        {
            _books.Completion.Succeed(flight.Requests[i], split[i]);
        }
        Finish(set, flight);
    }

    /// <summary>A stage's handler threw past its own handling: answer the batch all the same.</summary>
    private void Fault(StagingSet set, Exception e)
    {
        var flight = _batches[set.Index];
        if (flight.TryClaim())
        {
            _books.Fail(flight.Requests, e, inBackend: false, mayRunAlone: false);
            Finish(set, flight);
        }
    }

    /// <summary>The batch is answered (by the caller, who claimed it): the set is free again.</summary>
    private void Finish(StagingSet set, InFlightBatch flight)
    {
        flight.Requests.Clear();
        _pipeline.Release(set);
    }

    /// <summary>Copies each request's inputs into the set's input areas, in batch order.</summary>
    private static void Gather(InFlightBatch flight, StagingSet set)
    {
        var layout = set.Layout;
        if (flight.Rows > layout.MaxRows)
        {
            throw new InferenceException(ErrorKind.Internal, $"a batch of {flight.Rows} rows exceeds the staging for {layout.MaxRows}");
        }
        set.Rows = flight.Rows;
        for (var i = 0; i < layout.Inputs.Length; i++)
        {
            var area = set.Input(i);
            foreach (var pending in flight.Requests)
            {
                var source = pending.Request.Inputs[i] is { } input && input.ByteLength == pending.Rows * layout.InputRowBytes[i]
                    ? input.Bytes
                    : throw new InferenceException(ErrorKind.Internal, $"input '{layout.Inputs[i].Name}' of a request does not have the size its configuration fixes");
                source.CopyTo(area);
                area = area[source.Length..];
            }
        }
    }

    /// <summary>Splits the set's outputs into pooled buffers per request; the caller owns them.</summary>
    private TensorBuffer[][] Scatter(InFlightBatch flight, StagingSet set)
    {
        var layout = set.Layout;
        var requests = flight.Requests;
        var split = new TensorBuffer[requests.Count][];
        try
        {
            for (var r = 0; r < split.Length; r++)
            {
                split[r] = new TensorBuffer[layout.Outputs.Length];
            }
            for (var o = 0; o < layout.Outputs.Length; o++)
            {
                var output = layout.Outputs[o];
                var source = set.Output(o);
                for (var r = 0; r < split.Length; r++)
                {
                    var rows = requests[r].Rows;
                    var length = (int)(rows * layout.OutputRowBytes[o]);
                    var part = new TensorBuffer(_pool, output.DataType, layout.Shape(output, rows), StagingLayout.Elements(output, rows), length);
                    split[r][o] = part;
                    source[..length].CopyTo(part.Bytes);
                    source = source[length..];
                }
            }
            return split;
        }
        catch
        {
            foreach (var outputs in split)
            {
                if (outputs is not null)
                {
                    BatchAssembler.Dispose(outputs);
                }
            }
            throw;
        }
    }

    private void Cancel(List<PendingRequest> batch)
    {
        foreach (var pending in batch)
        {
            _books.Completion.Cancel(pending);
        }
    }

    private InferenceException Stopped() =>
        InferenceException.Unavailable($"model '{_books.ModelName}' stopped before its batch went through the device");

    /// <summary>A moving average over the last eight or so samples, each counted at most twice the
    /// estimate, so that one slow run (a stall) moves it little. An estimate that is still too long
    /// costs little: when the device runs out of work the loops are woken (<c>deviceIdle</c>).</summary>
    private static long Estimate(long estimate, long sample) => estimate == 0 ? sample : estimate + ((Math.Min(sample, 2 * estimate) - estimate) / 8);

    /// <summary>Drains the stages; batches still inside once they ran out of time are answered
    /// with Unavailable. The instance is freed by the pipeline once its stages have ended.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var set in await _pipeline.DrainAsync())
        {
            var flight = _batches[set.Index];
            if (flight.TryClaim())
            {
                _books.Fail(flight.Requests, Stopped());
            }
        }
    }
}
