using Fabrik.Inference;

namespace Fabrik.Scheduling;

/// <summary>
/// One tenant's queued requests at one priority level, first in first out, and its place in that
/// level's round robin (<see cref="FairQueue"/>). It lives while the tenant has requests queued at
/// the level; emptied, it goes back to a small pool for the next tenant to arrive.
/// </summary>
/// <remarks>Every member is read and written under <see cref="RequestQueues.Gate"/>.</remarks>
internal sealed class TenantQueue
{
    /// <summary>The tenant; null for the requests that carry none (they share one sub-queue).</summary>
    public RequestTenant? Tenant { get; set; }

    /// <summary>The tenant's requests in arrival order.</summary>
    public LinkedList<PendingRequest> Requests { get; } = new();

    /// <summary>The next tenant in the round robin (itself when alone).</summary>
    public TenantQueue Next { get; set; } = null!;

    /// <summary>The previous tenant in the round robin (itself when alone).</summary>
    public TenantQueue Previous { get; set; } = null!;

    /// <summary>Rows the tenant may still take before the round robin moves on: deficit round
    /// robin's deficit counter. Zero whenever its queue empties.</summary>
    public long Deficit { get; set; }

    /// <summary>Rows added to <see cref="Deficit"/> at each of its turns: the tenant's weight, as
    /// read when the candidates were last listed (a reload may change it between plans).</summary>
    public long Quantum { get; set; } = 1;

    // A walk's working copy (FairQueue.Walk), initialised at the walk's first visit, so listing
    // candidates changes nothing until a batch is taken.

    /// <summary>The walk that last initialised the working copy.</summary>
    public long WalkNumber { get; set; }

    /// <summary>The walk's copy of <see cref="Deficit"/>.</summary>
    public long WalkDeficit { get; set; }

    /// <summary>The walk's next request of this tenant; null once the walk has listed them all.</summary>
    public LinkedListNode<PendingRequest>? WalkNext { get; set; }
}
