using Fabrik.Configuration;
using Fabrik.Errors;
using Fabrik.Execution;
using Fabrik.Execution.Pipeline;
using Fabrik.Inference;
using Fabrik.Observability;
using Fabrik.Scheduling.Sequences;
using Fabrik.Tensors;

namespace Fabrik.Scheduling;

/// <summary>
/// A model version's scheduler: admits requests into its queues and runs them on its instances,
/// one <see cref="InstanceLoop"/> each. This class holds admission (request parameters, queue
/// bounds, the inline fast path), cancellation and shutdown; the parts it wires together are
/// <see cref="RequestQueues"/> (the queues and the lock), <see cref="DeadlineQueue"/> (queue
/// timeouts), <see cref="InstanceSlots"/> (which instance is busy), <see cref="BatchPlanner"/>
/// (what to run now), <see cref="IBatchExecutor"/> (running a batch on an instance) and
/// <see cref="RequestCompletion"/> (answers, statistics and ordering). Models without
/// dynamic_batching run each request on its own, through the same queue. Stateful models
/// (sequence_batching) are admitted and run by a <see cref="SequenceBatcher"/> over the same
/// executors instead of the queues and loops.
/// </summary>
/// <remarks>
/// Locking: one lock, <see cref="RequestQueues.Gate"/>, guards the queues, the deadline heap, the
/// slots and every <see cref="PendingRequest"/> field (the cancellation registration included); no
/// native call and no completion happens under it (a cancellation callback hops to the thread pool
/// before it takes the lock). Ownership: callers keep their <see cref="InferenceRequest"/>; the
/// scheduler reads its inputs only while the request is in a batch, and a request leaves the queue
/// (to a batch, a timeout or a cancellation) exactly once. Each executor is used by one run at a
/// time; the scheduler disposes them.
/// </remarks>
internal sealed partial class ModelScheduler : IAsyncDisposable
{
    private readonly RequestQueues _queues;
    private readonly DeadlineQueue _deadlines;
    private readonly InstanceSlots _slots;
    private readonly IBatchExecutor[] _executors;
    private readonly RequestCompletion _completion;
    private readonly Task[] _loops;
    private readonly ModelStatistics _statistics;
    private readonly TimeProvider _time;
    private readonly SchedulerSettings _settings;
    private readonly SequenceBatcher? _sequences;

    public ModelScheduler(ModelConfig config, IModelInstance[] instances, ModelStatistics statistics, TensorMemoryPool pool, TimeProvider time, ILogger logger)
    {
        ModelName = config.Name;
        _settings = SchedulerSettings.From(config, time, pool.LargestTensorBytes);
        _statistics = statistics;
        _time = time;
        _queues = new RequestQueues(_settings.PriorityLevels, QueueLimits.DefaultMaxQueueSize(instances.Length, config.MaxBatchSize));
        _statistics.PendingRequests = () => _queues.Count;
        _completion = new RequestCompletion(statistics, _settings.PreserveOrdering, ModelName);
        _deadlines = new DeadlineQueue(_queues, time, rejected =>
        {
            foreach (var pending in rejected)
            {
                _completion.TimedOut(pending);
            }
        });
        _slots = new InstanceSlots(instances.Length, _queues);
        Health = new BackendHealth(config);
        _executors = new IBatchExecutor[instances.Length];
        for (var i = 0; i < instances.Length; i++)
        {
            _executors[i] = CreateExecutor(config, instances[i], new BatchBookkeeping(instances[i], ModelName, statistics, Health, _completion, time, logger), pool, time, WakeLoopsIfWaiting, logger);
        }
        if (config.SequenceBatching is not null)
        {
            _sequences = new SequenceBatcher(config, _executors, _slots, statistics, pool, time, logger);
            _statistics.PendingRequests = () => _sequences.QueuedCount;
            _loops = [];
            return;
        }
        _loops = new Task[instances.Length];
        for (var i = 0; i < instances.Length; i++)
        {
            var loop = new InstanceLoop(i, _executors, _queues, _slots, _settings, time);
            _loops[i] = Task.Run(loop.RunAsync);
        }
    }

    /// <summary>A pipeline for an instance with stages, unless pipeline_depth is 1 or its staging
    /// does not fit under the tensor pool's limit (then, as for every other instance, one batch at
    /// a time: Triton falls back to pageable memory when its pinned pool is full, much the same).</summary>
    private static IBatchExecutor CreateExecutor(ModelConfig config, IModelInstance instance, BatchBookkeeping books, TensorMemoryPool pool, TimeProvider time,
        Action deviceIdle, ILogger logger)
    {
        if (instance is IStagedModelInstance staged && PipelineDepth.For(config, staged: true) is var depth && depth > 1)
        {
            try
            {
                return new PipelinedBatchExecutor(staged, depth, books, pool, time, deviceIdle);
            }
            catch (TensorPoolExhaustedException e)
            {
                Log.PipelineDoesNotFit(logger, config.Name, instance.Device, depth, e.Message);
            }
        }
        return new BatchExecutor(instance, books, pool);
    }

    /// <summary>A pipeline's device ran out of work: loops holding a batch back plan again.
    /// Takes the gate.</summary>
    private void WakeLoopsIfWaiting()
    {
        lock (_queues.Gate)
        {
            if (!_queues.IsEmpty())
            {
                _queues.Wake();
            }
        }
    }

    /// <summary>The model this scheduler serves.</summary>
    public string ModelName { get; }

    /// <summary>Where the instances run, for example "CPU, CPU" or "GPU 0".</summary>
    public string InstanceDevices => string.Join(", ", _executors.Select(executor => executor.Device));

    /// <summary>Requests waiting in the queues (or, for a stateful model, in its sequences).</summary>
    public int QueuedCount => _sequences?.QueuedCount ?? _queues.Count;

    /// <summary>The sequence batcher of a stateful model; null for others.</summary>
    public SequenceBatcher? Sequences => _sequences;

    /// <summary>Queue entries the timeout expiry has examined so far: one per request that timed
    /// out or left its queue, never a walk of the whole queue.</summary>
    public long TimeoutExaminations => _deadlines.Examinations;

    /// <summary>Consecutive backend failures, which decide readiness.</summary>
    public BackendHealth Health { get; }

    /// <summary>How long the oldest run in progress has been running (on an instance slot, or in
    /// a pipeline's run stage); zero when every instance is idle. A watchdog reads it to tell a
    /// wedged backend from a busy one.</summary>
    public TimeSpan LongestRun
    {
        get
        {
            var longest = _slots.LongestRun;
            foreach (var executor in _executors)
            {
                var run = executor.LongestRun;
                longest = run > longest ? run : longest;
            }
            return longest;
        }
    }

    /// <summary>Batches each instance keeps in flight (1: one at a time; more: a pipeline).</summary>
    public IReadOnlyList<int> PipelineDepths => [.. _executors.Select(executor => executor.PipelineDepth)];

    /// <summary>The queue bound used when the configuration sets no max_queue_size.</summary>
    public int DefaultMaxQueueSize => _queues.DefaultMaxQueueSize;

    /// <summary>Finished responses held back by preserve_ordering.</summary>
    public int ResponsesHeldForOrdering => _completion.Held;

    /// <summary>Queues <paramref name="request"/> and completes with its outputs. The request stays
    /// owned by the caller; the response becomes the caller's. A full queue, or a scheduler that is
    /// stopping, answers at once with Unavailable.</summary>
    public Task<InferenceResponse> InferAsync(InferenceRequest request)
    {
        if (_sequences is not null)
        {
            return _sequences.InferAsync(request);
        }
        var level = RequestParameters.PriorityLevel(request, _settings, ModelName);
        var policy = _settings.PolicyFor(level);
        var now = _time.GetTimestamp();
        var timeout = RequestParameters.TimeoutMicroseconds(request, policy);
        if (request.Cancellation.IsCancellationRequested)
        {
            return Task.FromCanceled<InferenceResponse>(request.Cancellation);
        }
        var deadline = timeout > 0 ? now + MicrosecondsToTicks(timeout) : long.MaxValue;
        PendingRequest? inlinePending = null;
        var inlineSlot = -1;
        lock (_queues.Gate)
        {
            ThrowIfStopping();
            if (_settings.Rules.MaxQueueDelayTicks == 0 && _queues.IsEmpty() && (inlineSlot = _slots.TryClaimIdle()) >= 0
                && _executors[inlineSlot].HoldTicks(now, request.BatchSize) > 0)
            {
                // The instance is free but its pipeline has batches ahead: the request waits in the
                // queue, where followers can join it, rather than run alone behind them.
                _slots.Unclaim(inlineSlot);
                inlineSlot = -1;
            }
            if (inlineSlot >= 0)
            {
                // Nothing waits and an instance is idle: run here, on the caller's thread, without
                // the hop to the instance's loop. The batcher could not have done better: with no
                // delay it would send this request alone, now.
                inlinePending = new PendingRequest(request, now, _queues.NextSequence())
                {
                    Deadline = deadline, // bounds its run
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
        lock (_queues.Gate)
        {
            ThrowIfStopping();
            if (_queues.Refusal(level, policy.MaxQueueSize, ModelName) is { } refusal)
            {
                _statistics.RecordFailure(request.ReceivedTimestamp, FailureReason.Rejected);
                throw InferenceException.Overloaded(refusal);
            }
            pending = new PendingRequest(request, now, _queues.NextSequence())
            {
                Queue = level - 1,
                Deadline = deadline,
                OnTimeout = policy.TimeoutAction,
            };
            _queues.Add(pending);
            if (pending.Deadline != long.MaxValue)
            {
                _deadlines.Track(pending);
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
            _queues.Wake();
        }
        return pending.Completion.Task;
    }

    // Under the gate.
    private void ThrowIfStopping()
    {
        if (_queues.Stopping)
        {
            throw InferenceException.Unavailable($"model '{ModelName}' is unloading and takes no new requests");
        }
    }

    /// <summary>Runs a request on the caller's thread, on the slot it claimed.</summary>
    private void RunInline(int slot, PendingRequest pending)
    {
        var batch = new List<PendingRequest>(1) { pending };
        try
        {
            _slots.BeginRun(slot);
            _executors[slot].Execute(batch);
        }
        finally
        {
            _slots.EndRun(slot);
        }
    }

    /// <summary>The client went away: a request still queued leaves the queue and is cancelled;
    /// one already in a batch runs, and its response is dropped by the caller.</summary>
    private void Cancel(PendingRequest pending)
    {
        if (_queues.TryWithdraw(pending))
        {
            _completion.Cancel(pending);
        }
    }

    private long MicrosecondsToTicks(long microseconds) =>
        (long)Math.Min(microseconds * (_time.TimestampFrequency / 1_000_000.0), long.MaxValue / 2);

    /// <summary>Stops intake, runs every queued request to completion, then frees the instances.</summary>
    public async ValueTask DisposeAsync()
    {
        lock (_queues.Gate)
        {
            _queues.Stopping = true;
            _queues.Wake();
        }
        if (_sequences is not null)
        {
            await _sequences.DisposeAsync();
        }
        await Task.WhenAll(_loops);
        await _deadlines.DisposeAsync();
        foreach (var executor in _executors)
        {
            await executor.DisposeAsync();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 201, Level = LogLevel.Warning, Message = "Model '{Model}' on {Device}: the staging of a pipeline of depth {Depth} does not fit the pinned memory pool ({Reason}); batches run one at a time")]
        public static partial void PipelineDoesNotFit(ILogger logger, string model, string device, int depth, string reason);
    }
}
