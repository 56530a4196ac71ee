using System.Diagnostics;
using Fabrik.Configuration;
using Fabrik.Errors;
using Fabrik.Execution;
using Fabrik.Observability;
using Fabrik.Tensors;

namespace Fabrik.Scheduling;

/// <summary>
/// A model's queue, its dynamic batcher and its execution loops (one per instance). A free
/// instance takes the next batch the <see cref="BatchPlanner"/> allows; requests wait in one queue
/// per priority level, under the level's queue policy (timeout, timeout action, maximum size).
/// Models without dynamic_batching run each request on its own, through the same queue.
/// </summary>
/// <remarks>
/// Locking: the queues, the deadline heap and every <see cref="PendingRequest"/> field (the
/// cancellation registration included) are guarded by <see cref="_gate"/>; no native call and no
/// completion happens under it (a cancellation callback hops to the thread pool before it takes
/// the lock). Ownership: callers
/// keep their <see cref="InferenceRequest"/>; the scheduler reads its inputs only while the
/// request is in a batch, and a request leaves the queue (to a batch, a timeout or a cancellation)
/// exactly once. Each instance is used by its own loop only; the scheduler disposes the instances.
/// </remarks>
internal sealed partial class ModelScheduler : IAsyncDisposable
{
    private static readonly long SpinThresholdTicks = Stopwatch.Frequency / 1000;

    private readonly object _gate = new();
    private readonly LinkedList<PendingRequest>[] _queues;
    private readonly LinkedList<PendingRequest> _delayed = new();
    private readonly List<PendingRequest> _candidates = [];
    // Queued requests with a timeout, earliest deadline first (ties in arrival order). A request
    // that leaves its queue stays here until it reaches the top or the heap is compacted.
    private readonly PriorityQueue<PendingRequest, (long Deadline, long Sequence)> _deadlines = new();
    private readonly int _defaultMaxQueueSize;
    private readonly IModelInstance[] _instances;
    private readonly bool[] _busy; // per instance, under _gate: running a batch (its loop's or an inline one)
    private readonly long[] _runStartedAt; // per instance, Stopwatch timestamp of the run in progress; 0 when idle (volatile access)
    private readonly Task[] _loops;
    private readonly ModelStatistics _statistics;
    private readonly TensorMemoryPool _pool;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SchedulerSettings _settings;
    private readonly OrderedCompletion? _ordering;
    private readonly ITimer _timeoutTimer;
    private TaskCompletionSource _wake = NewWake();
    private long _timerDue = long.MaxValue;
    private long _nextSequence;
    private bool _stopping;

    public ModelScheduler(ModelConfig config, IModelInstance[] instances, ModelStatistics statistics, TensorMemoryPool pool, TimeProvider time, ILogger logger)
    {
        ModelName = config.Name;
        _settings = SchedulerSettings.From(config, time, pool.LargestTensorBytes);
        _instances = instances;
        _busy = new bool[instances.Length];
        _runStartedAt = new long[instances.Length];
        _statistics = statistics;
        _statistics.PendingRequests = () => QueuedCount;
        _pool = pool;
        _time = time;
        _logger = logger;
        _ordering = _settings.PreserveOrdering ? new OrderedCompletion() : null;
        _defaultMaxQueueSize = QueueLimits.DefaultMaxQueueSize(instances.Length, config.MaxBatchSize);
        Health = new BackendHealth(config);
        _queues = new LinkedList<PendingRequest>[Math.Max(1, _settings.PriorityLevels)];
        for (var i = 0; i < _queues.Length; i++)
        {
            _queues[i] = new LinkedList<PendingRequest>();
        }
        _timeoutTimer = time.CreateTimer(_ => ExpireTimeouts(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _loops = new Task[instances.Length];
        for (var i = 0; i < instances.Length; i++)
        {
            var slot = i;
            _loops[i] = Task.Run(() => RunLoopAsync(slot));
        }
    }

    /// <summary>The model this scheduler serves.</summary>
    public string ModelName { get; }

    /// <summary>Where the instances run, for example "CPU, CPU" or "GPU 0".</summary>
    public string InstanceDevices => string.Join(", ", _instances.Select(instance => instance.Device));

    /// <summary>Requests waiting in the queues.</summary>
    public int QueuedCount
    {
        get
        {
            lock (_gate)
            {
                return _queues.Sum(queue => queue.Count) + _delayed.Count;
            }
        }
    }

    /// <summary>Queue entries the timeout expiry has examined so far: one per request that timed
    /// out or left its queue, never a walk of the whole queue.</summary>
    public long TimeoutExaminations { get; private set; }

    /// <summary>Consecutive backend failures, which decide readiness.</summary>
    public BackendHealth Health { get; }

    /// <summary>How long the oldest run in progress has been running; zero when every instance
    /// is idle. A watchdog reads it to tell a wedged backend from a busy one.</summary>
    public TimeSpan LongestRun
    {
        get
        {
            var oldest = 0L;
            foreach (ref readonly var started in _runStartedAt.AsSpan())
            {
                var value = Volatile.Read(in started);
                if (value != 0 && (oldest == 0 || value < oldest))
                {
                    oldest = value;
                }
            }
            return oldest == 0 ? TimeSpan.Zero : Stopwatch.GetElapsedTime(oldest);
        }
    }

    /// <summary>The queue bound used when the configuration sets no max_queue_size.</summary>
    public int DefaultMaxQueueSize => _defaultMaxQueueSize;

    /// <summary>Finished responses held back by preserve_ordering.</summary>
    public int ResponsesHeldForOrdering => _ordering?.Held ?? 0;

    /// <summary>Queues <paramref name="request"/> and completes with its outputs. The request stays
    /// owned by the caller; the response becomes the caller's. A full queue, or a scheduler that is
    /// stopping, answers at once with Unavailable.</summary>
    public Task<InferenceResponse> InferAsync(InferenceRequest request)
    {
        var level = PriorityLevel(request);
        var policy = _settings.PolicyFor(level);
        var now = _time.GetTimestamp();
        var timeout = EffectiveTimeoutMicroseconds(request, policy);
        if (request.Cancellation.IsCancellationRequested)
        {
            return Task.FromCanceled<InferenceResponse>(request.Cancellation);
        }
        PendingRequest? inlinePending = null;
        var inlineSlot = -1;
        lock (_gate)
        {
            if (_stopping)
            {
                throw InferenceException.Unavailable($"model '{ModelName}' is unloading and takes no new requests");
            }
            if (_settings.Rules.MaxQueueDelayTicks == 0 && QueuesEmpty() && (inlineSlot = Array.IndexOf(_busy, false)) >= 0)
            {
                // Nothing waits and an instance is idle: run here, on the caller's thread, without
                // the hop to the instance's loop. The batcher could not have done better: with no
                // delay it would send this request alone, now.
                _busy[inlineSlot] = true;
                inlinePending = new PendingRequest(request, now, _nextSequence++)
                {
                    Deadline = timeout > 0 ? now + MicrosecondsToTicks(timeout) : long.MaxValue, // bounds its run
                    OnTimeout = policy.TimeoutAction,
                };
            }
        }
        if (inlinePending is not null)
        {
            RunInline(inlineSlot, inlinePending);
            return inlinePending.Completion.Task;
        }
        PendingRequest pending;
        lock (_gate)
        {
            if (_stopping)
            {
                throw InferenceException.Unavailable($"model '{ModelName}' is unloading and takes no new requests");
            }
            var queue = _queues[level - 1];
            if (policy.MaxQueueSize > 0 ? queue.Count >= policy.MaxQueueSize : QueuedCountUnderGate() >= _defaultMaxQueueSize)
            {
                _statistics.RecordFailure(request.ReceivedTimestamp, FailureReason.Rejected);
                throw InferenceException.ResourceExhausted(policy.MaxQueueSize > 0
                    ? $"Exceeds maximum queue size: model '{ModelName}' has {queue.Count} requests queued at priority {level} (max_queue_size {policy.MaxQueueSize})"
                    : $"Exceeds maximum queue size: model '{ModelName}' has {_defaultMaxQueueSize} requests queued (the default bound; set max_queue_size in its queue policy to change it)");
            }
            pending = new PendingRequest(request, now, _nextSequence++)
            {
                Queue = level - 1,
                Deadline = timeout > 0 ? now + MicrosecondsToTicks(timeout) : long.MaxValue,
                OnTimeout = policy.TimeoutAction,
            };
            pending.Node = queue.AddLast(pending);
            if (pending.Deadline != long.MaxValue)
            {
                TrackDeadline(pending);
            }
            if (request.Cancellation.CanBeCanceled)
            {
                // Registered before any loop can take the request (the loops need this lock), so
                // the loop that runs it always disposes the real registration. A token cancelled
                // meanwhile runs the callback here, which only queues the cancellation.
                pending.CancellationRegistration = request.Cancellation.UnsafeRegister(static state =>
                {
                    ThreadPool.UnsafeQueueUserWorkItem(static work =>
                    {
                        var (scheduler, queued) = work;
                        scheduler.Cancel(queued);
                    }, ((ModelScheduler, PendingRequest))state!, preferLocal: false);
                }, (this, pending));
            }
            WakeLoops();
        }
        return pending.Completion.Task;
    }

    private void RunInline(int slot, PendingRequest pending)
    {
        var batch = new List<PendingRequest>(1) { pending };
        try
        {
            Volatile.Write(ref _runStartedAt[slot], Stopwatch.GetTimestamp());
            Execute(_instances[slot], batch);
        }
        finally
        {
            Volatile.Write(ref _runStartedAt[slot], 0);
            lock (_gate)
            {
                _busy[slot] = false;
                if (!QueuesEmpty() || _stopping)
                {
                    WakeLoops();
                }
            }
        }
    }

    // Under _gate.
    private int QueuedCountUnderGate()
    {
        var count = _delayed.Count;
        foreach (var queue in _queues)
        {
            count += queue.Count;
        }
        return count;
    }

    // Under _gate: adds a queued request's deadline to the heap, arms the timer if it is the
    // earliest, and drops entries of requests that have left their queues once they outnumber
    // the live ones (so each request costs O(log n) here, amortized, and nothing more).
    private void TrackDeadline(PendingRequest pending)
    {
        if (_deadlines.Count >= 64 && _deadlines.Count > 2 * QueuedCountUnderGate())
        {
            var live = _deadlines.UnorderedItems.Where(entry => WaitsForTimeout(entry.Element)).ToList();
            _deadlines.Clear();
            _deadlines.EnqueueRange(live);
        }
        _deadlines.Enqueue(pending, (pending.Deadline, pending.Sequence));
        if (pending.Deadline < _timerDue)
        {
            ArmTimeoutTimer(pending.Deadline);
        }
    }

    // Under _gate: still in its priority queue (not batched, cancelled, or demoted by DELAY).
    private bool WaitsForTimeout(PendingRequest pending) => pending.Node?.List == _queues[pending.Queue];

    // Under _gate.
    private bool QueuesEmpty()
    {
        foreach (var queue in _queues)
        {
            if (queue.Count > 0)
            {
                return false;
            }
        }
        return _delayed.Count == 0;
    }

    private int PriorityLevel(InferenceRequest request)
    {
        if (_settings.PriorityLevels == 0)
        {
            return 1;
        }
        if (!request.Parameters.TryGetValue("priority", out var value))
        {
            return _settings.DefaultPriorityLevel;
        }
        var level = value switch
        {
            long signed when signed >= 0 => (ulong)signed,
            ulong unsigned => unsigned,
            _ => throw InferenceException.InvalidArgument($"parameter 'priority' must be a non-negative integer, got {value}"),
        };
        if (level == 0)
        {
            return _settings.DefaultPriorityLevel;
        }
        return level <= (ulong)_settings.PriorityLevels
            ? (int)level
            : throw InferenceException.InvalidArgument($"priority {level} is out of range for model '{ModelName}', which has priority levels 1 to {_settings.PriorityLevels}");
    }

    /// <summary>The queue timeout in microseconds (0 for none). A request's "timeout" parameter
    /// applies only where the policy allows overrides, and only ever shortens the timeout.</summary>
    private static long EffectiveTimeoutMicroseconds(InferenceRequest request, QueuePolicyConfig policy)
    {
        var timeout = policy.DefaultTimeoutMicroseconds;
        if (policy.AllowTimeoutOverride && request.Parameters.TryGetValue("timeout", out var value))
        {
            var requested = value switch
            {
                long signed when signed >= 0 => signed,
                ulong unsigned => (long)Math.Min(unsigned, long.MaxValue),
                _ => throw InferenceException.InvalidArgument($"parameter 'timeout' must be a non-negative number of microseconds, got {value}"),
            };
            if (requested > 0 && (timeout == 0 || requested < timeout))
            {
                timeout = requested;
            }
        }
        return timeout;
    }

    private async Task RunLoopAsync(int slot)
    {
        var batch = new List<PendingRequest>();
        while (await NextBatchAsync(slot, batch))
        {
            try
            {
                Volatile.Write(ref _runStartedAt[slot], Stopwatch.GetTimestamp());
                Execute(_instances[slot], batch);
            }
            finally
            {
                Volatile.Write(ref _runStartedAt[slot], 0);
                lock (_gate)
                {
                    _busy[slot] = false;
                }
                batch.Clear();
            }
        }
    }

    /// <summary>Waits until the planner releases a batch and moves it into <paramref name="batch"/>.
    /// Returns false once the scheduler is stopping and the queues are empty.</summary>
    private async Task<bool> NextBatchAsync(int slot, List<PendingRequest> batch)
    {
        while (true)
        {
            Task wake;
            long deadline;
            lock (_gate)
            {
                wake = _wake.Task;
                deadline = long.MaxValue;
                // While a caller runs an inline request on this instance, the loop only waits; the
                // caller wakes it when done.
                if (!_busy[slot])
                {
                    var now = _time.GetTimestamp();
                    CollectCandidates();
                    if (_candidates.Count == 0 && _stopping)
                    {
                        return false;
                    }
                    var plan = BatchPlanner.Plan(_candidates, _stopping ? _settings.Rules with { MaxQueueDelayTicks = 0 } : _settings.Rules, now);
                    if (plan.Take > 0)
                    {
                        for (var i = 0; i < plan.Take; i++)
                        {
                            var pending = _candidates[i];
                            Dequeue(pending);
                            batch.Add(pending);
                        }
                        _candidates.Clear();
                        _busy[slot] = true;
                        return true;
                    }
                    _candidates.Clear();
                    deadline = plan.WaitTicks == long.MaxValue ? long.MaxValue : now + plan.WaitTicks;
                }
            }
            await WaitAsync(wake, deadline);
        }
    }

    /// <summary>Fills <see cref="_candidates"/> with the queued requests in scheduling order:
    /// priority levels first to last, then the delayed ones. Every request has at least one row, so
    /// max_batch_size + 1 candidates are all the planner can use; a long queue is not copied.
    /// Under _gate.</summary>
    private void CollectCandidates()
    {
        _candidates.Clear();
        var limit = _settings.Rules.Batches ? _settings.Rules.MaxBatchSize + 1 : 1;
        foreach (var queue in _queues)
        {
            Collect(queue, limit);
        }
        Collect(_delayed, limit);
    }

    private void Collect(LinkedList<PendingRequest> queue, int limit)
    {
        for (var node = queue.First; node is not null && _candidates.Count < limit; node = node.Next)
        {
            _candidates.Add(node.Value);
        }
    }

    /// <summary>Waits for an arrival or until the clock reaches <paramref name="deadline"/>.
    /// Timers fire with about 1 ms granularity on Linux (and may fire early), so the last
    /// millisecond of a wait on the system clock is spent yielding and re-planning instead;
    /// sub-millisecond delays stay honest. The deadline is absolute and the clock is read again
    /// once the timer is armed, so a clock that moves meanwhile cannot strand the wait.</summary>
    private async Task WaitAsync(Task wake, long deadline)
    {
        if (deadline == long.MaxValue)
        {
            await wake;
            return;
        }
        var system = _time == TimeProvider.System;
        var timerDeadline = system ? deadline - SpinThresholdTicks : deadline;
        var remaining = timerDeadline - _time.GetTimestamp();
        if (remaining <= 0)
        {
            if (system && _time.GetTimestamp() < deadline)
            {
                Thread.Yield();
            }
            return;
        }
        using var cancel = new CancellationTokenSource();
        var delay = Task.Delay(TimeSpan.FromSeconds((double)remaining / _time.TimestampFrequency), _time, cancel.Token);
        if (_time.GetTimestamp() < timerDeadline)
        {
            await Task.WhenAny(wake, delay);
        }
        await cancel.CancelAsync();
    }

    private void Execute(IModelInstance instance, List<PendingRequest> batch)
    {
        var start = _time.GetTimestamp();
        var startTimestamp = Stopwatch.GetTimestamp();
        var totalRows = 0;
        foreach (var pending in batch)
        {
            var queueTicks = ToStopwatchTicks(start - pending.EnqueuedTimestamp);
            _statistics.Queue.Record(queueTicks);
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
            var inputs = batch.Count == 1 ? batch[0].Request.Inputs : gathered = BatchAssembler.Gather(batch, totalRows, _pool);
            var timings = default(ExecutionTimings);
            var timeLeft = RunBudget(batch);
            inBackend = true;
            outputs = instance.Run(inputs, ref timings, timeLeft);
            inBackend = false;
            _statistics.RecordExecution(totalRows, batch.Count, timings);
            Health.RecordSuccess();
            foreach (var pending in batch)
            {
                pending.Request.Timeline?.Compute = timings;
            }
            if (batch.Count == 1)
            {
                Succeed(batch[0], outputs);
                outputs = null; // now the response's
            }
            else
            {
                var split = BatchAssembler.Scatter(outputs, batch, totalRows, _pool, ModelName);
                for (var i = 0; i < batch.Count; i++)
                {
                    Succeed(batch[i], split[i]);
                }
            }
        }
        catch (Exception e)
        {
            var error = ToClientError(e, instance, inBackend);
            if (inBackend && error.Kind == ErrorKind.InvalidArgument && batch.Count > 1)
            {
                // Some request's values made the whole batch fail: run each alone, so that only
                // the requests the model refuses fail and the others are answered.
                foreach (var pending in batch)
                {
                    RunAlone(instance, pending);
                }
                return;
            }
            foreach (var pending in batch)
            {
                Fail(pending, error);
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
        return _time.GetElapsedTime(_time.GetTimestamp(), latest);
    }

    /// <summary>Runs one request of a batch that failed, by itself.</summary>
    private void RunAlone(IModelInstance instance, PendingRequest pending)
    {
        TensorBuffer[]? outputs = null;
        try
        {
            var timings = default(ExecutionTimings);
            outputs = instance.Run(pending.Request.Inputs, ref timings, RunBudget([pending]));
            _statistics.RecordExecution(pending.Rows, 1, timings);
            Health.RecordSuccess();
            pending.Request.Timeline?.Compute = timings;
            Succeed(pending, outputs);
            outputs = null; // now the response's
        }
        catch (Exception e)
        {
            Fail(pending, ToClientError(e, instance, inBackend: true));
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
    private InferenceException ToClientError(Exception e, IModelInstance instance, bool inBackend)
    {
        var error = e as InferenceException
            ?? (e is TensorPoolExhaustedException ? InferenceException.ResourceExhausted(e.Message) : null)
            ?? new InferenceException(ErrorKind.Internal, $"model '{ModelName}' failed: {e.Message}", e);
        if (e is not (InferenceException or TensorPoolExhaustedException))
        {
            Log.ExecutionFailed(_logger, e, ModelName, instance.Device);
        }
        if (inBackend && error.Kind == ErrorKind.Internal)
        {
            Health.RecordFailure(error.Message);
        }
        return error;
    }

    private void Fail(PendingRequest pending, InferenceException error)
    {
        _statistics.RecordFailure(pending.Request.ReceivedTimestamp, error.Kind == ErrorKind.InvalidArgument ? FailureReason.Other : FailureReason.Backend);
        Complete(pending, p => p.Completion.TrySetException(error));
    }

    private void Succeed(PendingRequest pending, TensorBuffer[] outputs)
    {
        var response = new InferenceResponse(outputs);
        _statistics.Success.Record(Stopwatch.GetTimestamp() - pending.Request.ReceivedTimestamp);
        Complete(pending, p =>
        {
            if (!p.Completion.TrySetResult(response))
            {
                response.Dispose();
            }
        });
    }

    /// <summary>Completes a request, in arrival order when preserve_ordering is set.</summary>
    private void Complete(PendingRequest pending, Action<PendingRequest> complete)
    {
        if (_ordering is null)
        {
            complete(pending);
        }
        else
        {
            _ordering.Complete(pending, complete);
        }
    }

    /// <summary>The client went away: a request still queued leaves the queue and is cancelled;
    /// one already in a batch runs, and its response is dropped by the caller.</summary>
    private void Cancel(PendingRequest pending)
    {
        lock (_gate)
        {
            if (pending.Node is null)
            {
                return;
            }
            Dequeue(pending);
        }
        _statistics.RecordFailure(pending.Request.ReceivedTimestamp, FailureReason.Canceled);
        Complete(pending, p => p.Completion.TrySetCanceled(p.Request.Cancellation));
    }

    /// <summary>Timer callback: rejects (REJECT) or demotes (DELAY) requests whose queue timeout
    /// has passed, then re-arms for the next deadline.</summary>
    private void ExpireTimeouts()
    {
        List<PendingRequest>? rejected = null;
        lock (_gate)
        {
            var now = _time.GetTimestamp();
            var next = long.MaxValue;
            while (_deadlines.TryPeek(out var pending, out var due))
            {
                TimeoutExaminations++;
                if (!WaitsForTimeout(pending))
                {
                    _deadlines.Dequeue(); // it left its queue before its deadline
                    continue;
                }
                if (due.Deadline > now)
                {
                    next = due.Deadline;
                    break;
                }
                _deadlines.Dequeue();
                Dequeue(pending);
                if (pending.OnTimeout == TimeoutAction.Reject)
                {
                    (rejected ??= []).Add(pending);
                }
                else
                {
                    // DELAY: behind every request that has not timed out.
                    pending.Node = _delayed.AddLast(pending);
                }
            }
            _timerDue = long.MaxValue;
            if (next != long.MaxValue)
            {
                ArmTimeoutTimer(next);
            }
            WakeLoops();
        }
        foreach (var pending in rejected ?? [])
        {
            _statistics.RecordFailure(pending.Request.ReceivedTimestamp, FailureReason.Rejected);
            Complete(pending, p => p.Completion.TrySetException(InferenceException.Unavailable(
                $"Request timeout expired: the request waited longer than its queue timeout for model '{ModelName}'")));
        }
    }

    // Under _gate.
    private void Dequeue(PendingRequest pending)
    {
        pending.Node!.List!.Remove(pending.Node);
        pending.Node = null;
    }

    // Under _gate. Timers are relative, so the clock is read at arming time, and read again
    // afterwards: if it passed the deadline meanwhile, the expiry runs now instead.
    private void ArmTimeoutTimer(long deadline)
    {
        _timerDue = deadline;
        var due = TimeSpan.FromSeconds(Math.Max(0, deadline - _time.GetTimestamp()) / (double)_time.TimestampFrequency);
        _timeoutTimer.Change(due, Timeout.InfiniteTimeSpan);
        if (_time.GetTimestamp() >= deadline)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static scheduler => scheduler.ExpireTimeouts(), this, preferLocal: false);
        }
    }

    // Under _gate: every waiting loop re-plans.
    private void WakeLoops()
    {
        var wake = _wake;
        _wake = NewWake();
        wake.TrySetResult();
    }

    private static TaskCompletionSource NewWake() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private long MicrosecondsToTicks(long microseconds) =>
        (long)Math.Min(microseconds * (_time.TimestampFrequency / 1_000_000.0), long.MaxValue / 2);

    private long ToStopwatchTicks(long timeProviderTicks) =>
        (long)(timeProviderTicks * ((double)Stopwatch.Frequency / _time.TimestampFrequency));

    /// <summary>Stops intake, runs every queued request to completion, then frees the instances.</summary>
    public async ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            _stopping = true;
            WakeLoops();
        }
        await Task.WhenAll(_loops);
        await _timeoutTimer.DisposeAsync();
        foreach (var instance in _instances)
        {
            instance.Dispose();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 200, Level = LogLevel.Error, Message = "Model '{Model}' failed on {Device}")]
        public static partial void ExecutionFailed(ILogger logger, Exception exception, string model, string device);
    }
}
