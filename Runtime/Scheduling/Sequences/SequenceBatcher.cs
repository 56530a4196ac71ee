using Fabrik.Configuration;
using Fabrik.Errors;
using Fabrik.Inference;
using Fabrik.Observability;
using Fabrik.Tensors;

namespace Fabrik.Scheduling.Sequences;

/// <summary>
/// Triton's sequence batcher for one model version: binds each sequence to one batch slot of one
/// instance from its START until its END or its idle timeout, queues its requests in order, keeps
/// its implicit state, and runs the slots' requests through the instances' executors, one
/// <see cref="SequenceInstanceLoop"/> each. New sequences wait in a backlog while every slot is
/// taken; the requests waiting, backlog included, are bounded as the dynamic batcher's queue is
/// (a full queue is Overloaded: 503 with Retry-After, gRPC UNAVAILABLE).
/// </summary>
/// <remarks>
/// Locking: one lock, <see cref="Gate"/>, guards the id table, the slots, the free-slot set, the
/// backlog, the reaper's due time and every <see cref="Sequence"/> field but its states. No
/// completion, native call or batch runs under it. Ownership: callers keep their requests; the
/// batcher owns control tensors, empty-slot tensors and implicit states, and frees states when a
/// sequence ends, idles out, or the batcher is disposed.
/// </remarks>
internal sealed partial class SequenceBatcher : IAsyncDisposable
{
    private readonly string _model;
    private readonly int _clientInputs;
    private readonly int _backendInputs;
    private readonly SequenceControlInput? _correlationControl;
    private readonly bool _batched;
    private readonly Sequence?[][] _slots;
    private readonly SortedSet<(int Slot, int Instance)> _free = [];
    private readonly Dictionary<SequenceId, Sequence> _live = [];
    private readonly LinkedList<Sequence> _backlog = new();
    private readonly SequenceInstanceLoop[] _loops;
    private readonly Task[] _tasks;
    private readonly ITimer _reaper;
    private readonly ModelStatistics _statistics;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly long _idleTicks;
    private readonly int _maxQueued;
    private readonly int _stateCount;
    private long _reaperDue = long.MaxValue;
    private long _arrivals;
    private int _queued;

    public SequenceBatcher(ModelConfig config, IBatchExecutor[] executors, InstanceSlots runs, ModelStatistics statistics, TensorMemoryPool pool, TimeProvider time, ILogger logger)
    {
        var sequences = config.SequenceBatching ?? throw new ArgumentException("the model has no sequence_batching", nameof(config));
        _model = config.Name;
        _clientInputs = config.Inputs.Length;
        _stateCount = sequences.States.Length;
        _backendInputs = _clientInputs + sequences.Controls.Length + _stateCount;
        _correlationControl = sequences.Controls.FirstOrDefault(control => control.Kind == SequenceControlKind.CorrelationId);
        _batched = config.MaxBatchSize > 0;
        _statistics = statistics;
        _time = time;
        _logger = logger;
        _idleTicks = (long)Math.Min(sequences.MaxSequenceIdleMicroseconds * (time.TimestampFrequency / 1_000_000.0), long.MaxValue / 4);
        var rules = SequenceBatchRules.From(config, sequences, time);
        _maxQueued = QueueLimits.DefaultMaxQueueSize(executors.Length, rules.SlotsPerInstance);
        _slots = new Sequence?[executors.Length][];
        for (var i = 0; i < executors.Length; i++)
        {
            _slots[i] = new Sequence?[rules.SlotsPerInstance];
            for (var s = 0; s < rules.SlotsPerInstance; s++)
            {
                _free.Add((s, i)); // lowest slot first, across instances: sequences spread and batches stay dense
            }
        }
        _reaper = time.CreateTimer(static state => ((SequenceBatcher)state!).Reap(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        var tensors = new SlotTensors(pool, _batched);
        _loops = new SequenceInstanceLoop[executors.Length];
        _tasks = new Task[executors.Length];
        for (var i = 0; i < executors.Length; i++)
        {
            _loops[i] = new SequenceInstanceLoop(i, this, executors[i], runs, rules, tensors, sequences, _clientInputs, config.Outputs.Length, time);
        }
        for (var i = 0; i < executors.Length; i++)
        {
            _tasks[i] = Task.Run(_loops[i].RunAsync);
        }
    }

    /// <summary>The batcher's lock (see the remarks).</summary>
    public Lock Gate { get; } = new();

    /// <summary>Set once, when the batcher starts shutting down. Under the gate.</summary>
    public bool Stopping { get; private set; }

    /// <summary>Requests accepted and not yet taken into a batch, backlog included.</summary>
    public int QueuedCount
    {
        get
        {
            lock (Gate)
            {
                return _queued;
            }
        }
    }

    /// <summary>Sequences known to the batcher (bound to a slot or in the backlog).</summary>
    public int LiveSequences
    {
        get
        {
            lock (Gate)
            {
                return _live.Count;
            }
        }
    }

    /// <summary>Admits one request of a sequence and completes with its outputs (the model's
    /// outputs, without the implicit state). The request stays the caller's.</summary>
    public Task<InferenceResponse> InferAsync(InferenceRequest request)
    {
        var flags = SequenceParameters.Read(request, _model);
        if (_batched && request.BatchSize != 1)
        {
            throw InferenceException.InvalidArgument($"inference request to model '{_model}' must specify batch-size 1 due to requirements of sequence batcher");
        }
        CheckCorrelationType(flags.Id);
        var inputs = new TensorBuffer?[_backendInputs];
        request.Inputs.AsSpan().CopyTo(inputs);
        var view = new InferenceRequest(inputs, 1)
        {
            Id = request.Id,
            Parameters = request.Parameters,
            ReceivedTimestamp = request.ReceivedTimestamp,
            Timeline = request.Timeline,
        };
        SequenceRequest item;
        lock (Gate)
        {
            var now = _time.GetTimestamp();
            if (flags.Start && Stopping)
            {
                throw InferenceException.Unavailable($"model '{_model}' is unloading and starts no new sequences");
            }
            if (!_live.TryGetValue(flags.Id, out var sequence) && !flags.Start)
            {
                throw InferenceException.InvalidArgument(
                    $"inference request for sequence {flags.Id} to model '{_model}' must specify the START flag on the first request of the sequence");
            }
            if (sequence is not null && flags.Start)
            {
                // Triton ends the old sequence early and carries on; a client that starts a live
                // id has lost track of it, so it is told (the old sequence still ends by its END
                // or its idle limit).
                throw InferenceException.InvalidArgument(
                    $"sequence {flags.Id} of model '{_model}' is already in progress: end it (sequence_end) before starting it again");
            }
            if (_queued >= _maxQueued)
            {
                _statistics.RecordFailure(request.ReceivedTimestamp, FailureReason.Rejected);
                throw InferenceException.Overloaded($"Exceeds maximum queue size: model '{_model}' has {_queued} sequence requests waiting");
            }
            if (sequence is null)
            {
                sequence = new Sequence(flags.Id, _stateCount);
                _live[flags.Id] = sequence;
                Bind(sequence);
            }
            item = new SequenceRequest(new PendingRequest(view, now, _arrivals++), flags);
            sequence.Requests.Enqueue(item);
            sequence.LastActivity = now;
            _queued++;
            if (flags.End)
            {
                // Later requests with this id belong to a new sequence (or are refused without START).
                _live.Remove(flags.Id);
            }
            if (sequence.Bound)
            {
                _loops[sequence.Instance].Wake();
            }
        }
        return item.Client.Task;
    }

    /// <summary>A string id cannot fill a numeric CORRID, nor a number one narrower than itself.</summary>
    private void CheckCorrelationType(SequenceId id)
    {
        if (_correlationControl is not { } control || control.DataType == DataType.Bytes)
        {
            return;
        }
        var type = control.DataType;
        var limit = type switch
        {
            DataType.Int32 => (ulong)int.MaxValue,
            DataType.UInt32 => (ulong)uint.MaxValue,
            DataType.Int64 => (ulong)long.MaxValue,
            _ => ulong.MaxValue,
        };
        if (id.IsText || id.Number > limit)
        {
            throw InferenceException.InvalidArgument(
                $"model '{_model}' takes sequence ids that fit its CONTROL_SEQUENCE_CORRID input '{control.Name}' ({type.ConfigName()}); got {(id.IsText ? "a string" : id.ToString())}");
        }
    }

    /// <summary>Gives a new sequence a free slot, or puts it in the backlog. Under the gate.</summary>
    private void Bind(Sequence sequence)
    {
        if (_free.Count == 0)
        {
            _backlog.AddLast(sequence);
            return;
        }
        var (slot, instance) = _free.Min;
        _free.Remove(_free.Min);
        Place(sequence, instance, slot);
    }

    private void Place(Sequence sequence, int instance, int slot)
    {
        sequence.Instance = instance;
        sequence.Slot = slot;
        _slots[instance][slot] = sequence;
        _loops[instance].Wake();
    }

    /// <summary>Ends a sequence that is not running: frees its state, forgets its id, and gives its
    /// slot to the oldest sequence in the backlog (or back to the free set). Under the gate.</summary>
    private void Release(Sequence sequence)
    {
        sequence.ReleaseStates();
        if (_live.TryGetValue(sequence.Id, out var current) && current == sequence)
        {
            _live.Remove(sequence.Id);
        }
        if (!sequence.Bound)
        {
            return;
        }
        var (instance, slot) = (sequence.Instance, sequence.Slot);
        _slots[instance][slot] = null;
        sequence.Slot = -1;
        if (_backlog.First is { } next)
        {
            _backlog.RemoveFirst();
            Place(next.Value, instance, slot);
        }
        else
        {
            _free.Add((slot, instance));
        }
    }

    /// <summary>An instance's slots, for its loop's planner. Under the gate.</summary>
    public IReadOnlyList<Sequence?> SlotsOf(int instance) => _slots[instance];

    /// <summary>Whether a stopping batcher has nothing left for this instance. Under the gate.</summary>
    public bool Drained(int instance) =>
        _backlog.Count == 0 && _slots[instance].All(sequence => sequence is null || sequence.Requests.Count == 0);

    /// <summary>Takes the next request of each planned slot into a batch. Under the gate.</summary>
    public void Take(int instance, List<int> slots, List<(Sequence Sequence, SequenceRequest Request)> taken)
    {
        foreach (var slot in slots)
        {
            var sequence = _slots[instance][slot]!;
            sequence.Running = true;
            taken.Add((sequence, sequence.Requests.Dequeue()));
            _queued--;
        }
    }

    /// <summary>A batch was answered: its sequences wait for their next request, end, or (idle)
    /// start their idle timeout. Takes the gate.</summary>
    public void Finished(List<(Sequence Sequence, SequenceRequest Request)> taken)
    {
        lock (Gate)
        {
            var now = _time.GetTimestamp();
            foreach (var (sequence, request) in taken)
            {
                sequence.Running = false;
                sequence.LastActivity = now;
                if (request.Flags.End || (Stopping && sequence.Requests.Count == 0))
                {
                    Release(sequence);
                }
                else if (sequence.Requests.Count == 0)
                {
                    ArmReaper(now + _idleTicks, now);
                }
            }
        }
    }

    /// <summary>Makes the idle reaper run by <paramref name="due"/>. Under the gate.</summary>
    private void ArmReaper(long due, long now)
    {
        if (due >= _reaperDue)
        {
            return;
        }
        _reaperDue = due;
        _reaper.Change(TimeSpan.FromSeconds(Math.Max(0, due - now) / (double)_time.TimestampFrequency), Timeout.InfiniteTimeSpan);
    }

    /// <summary>Releases every sequence idle for max_sequence_idle_microseconds, and arms itself
    /// for the next one to idle out.</summary>
    private void Reap()
    {
        lock (Gate)
        {
            _reaperDue = long.MaxValue;
            var now = _time.GetTimestamp();
            foreach (var slots in _slots)
            {
                foreach (var sequence in slots)
                {
                    if (sequence is null || sequence.Running || sequence.Requests.Count > 0)
                    {
                        continue;
                    }
                    var due = sequence.LastActivity + _idleTicks;
                    if (due <= now)
                    {
                        Log.IdleReleased(_logger, _model, sequence.Id.ToString());
                        Release(sequence);
                    }
                    else
                    {
                        ArmReaper(due, now);
                    }
                }
            }
        }
    }

    /// <summary>Stops new sequences, runs every request accepted, ends the open sequences (their
    /// state freed), then returns; the caller disposes the executors.</summary>
    public async ValueTask DisposeAsync()
    {
        lock (Gate)
        {
            Stopping = true;
            foreach (var slots in _slots)
            {
                foreach (var sequence in slots)
                {
                    if (sequence is { Running: false, Requests.Count: 0 })
                    {
                        Release(sequence); // idle: ended now, its slot to the backlog
                    }
                }
            }
            foreach (var loop in _loops)
            {
                loop.Wake();
            }
        }
        await Task.WhenAll(_tasks);
        await _reaper.DisposeAsync();
        lock (Gate)
        {
            foreach (var sequence in _slots.SelectMany(slots => slots).OfType<Sequence>().ToList())
            {
                Release(sequence);
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 203, Level = LogLevel.Debug, Message = "Model '{Model}': sequence {Sequence} was idle past max_sequence_idle_microseconds and is released")]
        public static partial void IdleReleased(ILogger logger, string model, string sequence);
    }
}
