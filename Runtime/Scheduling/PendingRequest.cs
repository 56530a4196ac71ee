using Fabrik.Configuration;
using Fabrik.Inference;

namespace Fabrik.Scheduling;

/// <summary>A request waiting in, or taken from, a model's queue.</summary>
/// <remarks>Every field but <see cref="Completion"/> is read and written under the scheduler's
/// lock. <see cref="Node"/> is non-null exactly while the request is queued;
/// <see cref="TenantQueue"/> while it is queued at its priority level (not demoted by DELAY).</remarks>
internal sealed class PendingRequest(InferenceRequest request, long enqueuedTimestamp, long sequence)
{
    public InferenceRequest Request { get; } = request;

    public TaskCompletionSource<InferenceResponse> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>TimeProvider timestamp of entry into the queue.</summary>
    public long EnqueuedTimestamp { get; } = enqueuedTimestamp;

    /// <summary>Arrival order, for preserve_ordering.</summary>
    public long Sequence { get; } = sequence;

    /// <summary>TimeProvider timestamp at which the queue timeout expires; long.MaxValue for none.</summary>
    public long Deadline { get; init; } = long.MaxValue;

    public TimeoutAction OnTimeout { get; init; }

    /// <summary>Index of the priority queue (level - 1).</summary>
    public int Queue { get; init; }

    /// <summary>The request's place in its queue while queued.</summary>
    public LinkedListNode<PendingRequest>? Node { get; set; }

    /// <summary>The sub-queue of its tenant that holds it at its priority level.</summary>
    public TenantQueue? TenantQueue { get; set; }

    /// <summary>The request queued just before this one at its level, in arrival order.</summary>
    public PendingRequest? Older { get; set; }

    /// <summary>The request queued just after this one at its level, in arrival order.</summary>
    public PendingRequest? Newer { get; set; }

    public CancellationTokenRegistration CancellationRegistration { get; set; }

    /// <summary>An empty batch slot of the sequence batcher: run for its row, never a client's
    /// request, so it is left out of the statistics.</summary>
    public bool Filler { get; init; }

    /// <summary>Rows this request contributes to a batch.</summary>
    public int Rows => Request.BatchSize;
}
