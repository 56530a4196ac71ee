namespace Fabrik.Inference;

/// <summary>
/// The tenant a request is charged to: resolved by the access check from the caller's API key or
/// client certificate, read by the scheduler to share a model's queue fairly between tenants, and
/// charged by it with each request's share of the compute its batch took.
/// </summary>
/// <remarks>
/// One instance per tenant, shared by every request of that tenant, so members are called from
/// protocol and scheduler threads at once and must be thread-safe. A reload of the key file may
/// change <see cref="Weight"/> in place; the scheduler reads it when it plans a batch.
/// </remarks>
internal abstract class RequestTenant
{
    /// <summary>The tenant's name as the key file declares it (bounded: the file's tenants plus
    /// one shared name for callers the file does not declare).</summary>
    public abstract string Name { get; }

    /// <summary>The tenant's share of a model's queue relative to the other tenants waiting on
    /// the same model (1 or more).</summary>
    public abstract int Weight { get; }

    /// <summary>Called by the scheduler once per request after its batch ran or failed: the model,
    /// the request's rows and its share of the batch's measured compute time, in proportion to
    /// its rows.</summary>
    public abstract void ChargeCompute(string model, int rows, long computeMicroseconds);
}
