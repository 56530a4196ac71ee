using Fabrik.Inference;

namespace Fabrik.Scheduling;

/// <summary>
/// One priority level's queue, shared between tenants by deficit round robin, a request costing
/// its rows. Each tenant with requests queued here has a first-in first-out sub-queue
/// (<see cref="TenantQueue"/>) in a ring. The tenant at the cursor takes requests while its
/// deficit covers their rows; then the cursor moves on and the next tenant's deficit grows by its
/// quantum (its weight, in rows). A tenant whose queue empties leaves the ring and loses its
/// deficit; one that arrives joins at the end of the round. So tenants that keep requests waiting
/// take rows in proportion to their weights, a tenant alone takes everything, and each tenant's
/// requests keep their arrival order. Requests without a tenant share one sub-queue: when no
/// request has a tenant, the order is arrival order.
/// </summary>
/// <remarks>
/// Locking: every member is called with <see cref="RequestQueues.Gate"/> held. Listing candidates
/// (<see cref="List"/>) walks the round robin on working copies and changes nothing; taking a
/// batch (<see cref="Take"/>) walks it again with the quanta the listing read and keeps the
/// result, so the requests taken are exactly the first ones listed. Allocation: a request costs
/// its LinkedList node, as one plain queue would; sub-queues come from a pool, and at most one
/// lives per tenant with a request queued here.
/// </remarks>
internal sealed class FairQueue(Stack<TenantQueue> pool)
{
    /// <summary>Emptied sub-queues a scheduler keeps for reuse; beyond them they are left to the
    /// collector, so a burst of distinct tenants leaves nothing behind once its requests are gone.</summary>
    public const int PoolLimit = 64;

    private readonly Dictionary<RequestTenant, TenantQueue> _tenants = new(ReferenceEqualityComparer.Instance);
    private readonly List<TenantQueue> _visited = [];
    private TenantQueue? _untenanted;
    private TenantQueue? _cursor; // the tenant being served; null when the level is empty
    private bool _cursorServed;   // the cursor's tenant has had its quantum for this turn
    private PendingRequest? _oldest;
    private PendingRequest? _newest;
    private long _walkNumber;
    private TenantQueue? _walkCursor;

    /// <summary>Requests queued at this level.</summary>
    public int Count { get; private set; }

    /// <summary>Sub-queues live at this level: tenants with requests queued here.</summary>
    public int TenantCount { get; private set; }

    /// <summary>Enqueue timestamp of the request that has waited longest at this level
    /// (long.MaxValue when none waits): max_queue_delay is measured from it.</summary>
    public long OldestEnqueued => _oldest?.EnqueuedTimestamp ?? long.MaxValue;

    /// <summary>Queues <paramref name="pending"/> at the back of its tenant's sub-queue.</summary>
    public void Add(PendingRequest pending)
    {
        var tenant = pending.Request.Tenant;
        var queue = (tenant is null ? _untenanted : _tenants.GetValueOrDefault(tenant)) ?? Join(tenant);
        pending.Node = queue.Requests.AddLast(pending);
        pending.TenantQueue = queue;
        pending.Older = _newest;
        if (_newest is null)
        {
            _oldest = pending;
        }
        else
        {
            _newest.Newer = pending;
        }
        _newest = pending;
        Count++;
    }

    /// <summary>Takes a request queued here out of its sub-queue.</summary>
    public void Remove(PendingRequest pending)
    {
        var queue = pending.TenantQueue!;
        queue.Requests.Remove(pending.Node!);
        pending.Node = null;
        pending.TenantQueue = null;
        if (pending.Older is null)
        {
            _oldest = pending.Newer;
        }
        else
        {
            pending.Older.Newer = pending.Newer;
        }
        if (pending.Newer is null)
        {
            _newest = pending.Older;
        }
        else
        {
            pending.Newer.Older = pending.Older;
        }
        pending.Older = null;
        pending.Newer = null;
        Count--;
        if (queue.Requests.Count == 0)
        {
            Leave(queue);
        }
    }

    /// <summary>Appends the next <paramref name="limit"/> requests (fewer when fewer wait) in the
    /// order the round robin would serve them, reading each tenant's weight; changes nothing.</summary>
    public void List(List<PendingRequest> output, int limit) => Walk(output, limit, readWeights: true);

    /// <summary>Moves the first <paramref name="count"/> requests of the last <see cref="List"/>
    /// (made under the same hold of the lock) into <paramref name="batch"/>, and advances the round
    /// robin past them.</summary>
    public void Take(int count, List<PendingRequest> batch)
    {
        if (count <= 0)
        {
            return;
        }
        var start = batch.Count;
        Walk(batch, count, readWeights: false);
        foreach (var queue in _visited)
        {
            queue.Deficit = queue.WalkDeficit;
        }
        _cursor = _walkCursor;
        _cursorServed = true;
        for (var i = start; i < batch.Count; i++)
        {
            Remove(batch[i]); // a sub-queue emptied here leaves the ring, and the cursor moves on
        }
    }

    private void Walk(List<PendingRequest> output, int limit, bool readWeights)
    {
        _visited.Clear();
        _walkCursor = _cursor;
        var goal = Math.Min(limit, Count);
        if (goal <= 0)
        {
            return;
        }
        if (TenantCount == 1)
        {
            // One tenant (or none at all): arrival order, with no accounting.
            for (var node = _cursor!.Requests.First; goal-- > 0; node = node.Next)
            {
                output.Add(node!.Value);
            }
            return;
        }
        _walkNumber++;
        var queue = _cursor!;
        var served = _cursorServed;
        var idleTurns = 0;
        while (true)
        {
            Begin(queue, readWeights);
            var before = goal;
            if (queue.WalkNext is not null)
            {
                if (!served)
                {
                    queue.WalkDeficit += queue.Quantum;
                }
                while (queue.WalkNext is { } node && node.Value.Rows <= queue.WalkDeficit)
                {
                    output.Add(node.Value);
                    queue.WalkDeficit -= node.Value.Rows;
                    queue.WalkNext = node.Next;
                    if (--goal == 0)
                    {
                        _walkCursor = queue;
                        return;
                    }
                }
                if (queue.WalkNext is null)
                {
                    queue.WalkDeficit = 0;
                }
            }
            idleTurns = goal == before ? idleTurns + 1 : 0;
            if (idleTurns == TenantCount)
            {
                SkipIdleRounds(queue);
                idleTurns = 0;
            }
            queue = queue.Next;
            served = false;
        }
    }

    /// <summary>A whole round served nobody (every next request has more rows than its tenant's
    /// deficit): adds at once the quanta of the rounds that would serve nobody either, so a walk
    /// costs turns in proportion to the requests it lists, not to their rows.</summary>
    private void SkipIdleRounds(TenantQueue from)
    {
        var rounds = long.MaxValue;
        var queue = from;
        for (var i = 0; i < TenantCount; i++, queue = queue.Next)
        {
            if (queue.WalkNext is { } next)
            {
                rounds = Math.Min(rounds, (next.Value.Rows - queue.WalkDeficit + queue.Quantum - 1) / queue.Quantum);
            }
        }
        for (var i = 0; i < TenantCount; i++, queue = queue.Next)
        {
            if (queue.WalkNext is not null)
            {
                queue.WalkDeficit += (rounds - 1) * queue.Quantum;
            }
        }
    }

    /// <summary>A walk's first visit of <paramref name="queue"/>: its working copy starts from its
    /// deficit and its first request.</summary>
    private void Begin(TenantQueue queue, bool readWeights)
    {
        if (queue.WalkNumber == _walkNumber)
        {
            return;
        }
        queue.WalkNumber = _walkNumber;
        queue.WalkDeficit = queue.Deficit;
        queue.WalkNext = queue.Requests.First;
        if (readWeights)
        {
            queue.Quantum = QuantumOf(queue.Tenant);
        }
        _visited.Add(queue);
    }

    /// <summary>Rows a tenant may take per turn: its weight, kept within the contract's 1..1000.</summary>
    private static long QuantumOf(RequestTenant? tenant) => tenant is null ? 1 : Math.Clamp(tenant.Weight, 1, 1000);

    /// <summary>A tenant's first request at this level: a sub-queue joins the ring at the end of
    /// the round (just before the cursor), with no deficit.</summary>
    private TenantQueue Join(RequestTenant? tenant)
    {
        var queue = pool.Count > 0 ? pool.Pop() : new TenantQueue();
        queue.Tenant = tenant;
        queue.Quantum = QuantumOf(tenant);
        queue.WalkNumber = 0; // walks are numbered from 1, per level, and the pool is shared by the levels
        if (tenant is null)
        {
            _untenanted = queue;
        }
        else
        {
            _tenants.Add(tenant, queue);
        }
        if (_cursor is null)
        {
            queue.Next = queue;
            queue.Previous = queue;
            _cursor = queue;
            _cursorServed = false;
        }
        else
        {
            queue.Previous = _cursor.Previous;
            queue.Next = _cursor;
            _cursor.Previous.Next = queue;
            _cursor.Previous = queue;
        }
        TenantCount++;
        return queue;
    }

    /// <summary>A sub-queue emptied: it leaves the ring (the cursor moving on to the next tenant,
    /// which then gets its quantum) and goes back to the pool.</summary>
    private void Leave(TenantQueue queue)
    {
        if (queue.Next == queue)
        {
            _cursor = null;
        }
        else
        {
            if (_cursor == queue)
            {
                _cursor = queue.Next;
                _cursorServed = false;
            }
            queue.Previous.Next = queue.Next;
            queue.Next.Previous = queue.Previous;
        }
        if (queue.Tenant is null)
        {
            _untenanted = null;
        }
        else
        {
            _tenants.Remove(queue.Tenant);
        }
        queue.Tenant = null;
        queue.Next = null!;
        queue.Previous = null!;
        queue.Deficit = 0;
        queue.WalkNext = null;
        TenantCount--;
        if (TenantCount == 0 && _tenants.EnsureCapacity(0) > PoolLimit)
        {
            _tenants.TrimExcess(); // after a burst of many tenants, keep no table sized for it
        }
        if (pool.Count < PoolLimit)
        {
            pool.Push(queue);
        }
    }
}
