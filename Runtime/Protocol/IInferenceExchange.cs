using Fabrik.Inference;
using Fabrik.Errors;
using Fabrik.Models;
using Fabrik.Tenancy;

namespace Fabrik.Protocol;

/// <summary>
/// What one protocol contributes to an inference (<see cref="InferencePipeline"/>): reading the
/// request into pooled tensors and writing the response. Everything between the two (model lease,
/// trace, statistics, failure classification, disposal) belongs to the pipeline. Implemented by
/// structs, so that the pipeline's generic call allocates nothing for them.
/// </summary>
/// <typeparam name="TResult">What the protocol hands back to its framework (a message, or nothing).</typeparam>
internal interface IInferenceExchange<TResult>
{
    /// <summary>The protocol's name in traces (<c>HTTP</c>, <c>GRPC</c>).</summary>
    string Protocol { get; }

    /// <summary>The W3C <c>traceparent</c> the caller sent; null when absent.</summary>
    string? TraceParent { get; }

    /// <summary>The W3C <c>tracestate</c> the caller sent; null when absent.</summary>
    string? TraceState { get; }

    /// <summary>The tenant the caller's key is charged to (set on the decoded request too); null
    /// when the key file declares no tenants.</summary>
    Tenant? Tenant { get; }

    /// <summary>The request's size on the wire, for the tenant's usage; asked only when there is a tenant.</summary>
    long RequestBytes { get; }

    /// <summary>The encoded response's size on the wire, for the tenant's usage; asked only when
    /// there is a tenant, right after <see cref="Encode"/>.</summary>
    long ResponseBytes(TResult result);

    /// <summary>Reads the request for <paramref name="model"/>. The caller owns the returned
    /// request (and its pooled buffers); on failure nothing is left rented.</summary>
    /// <exception cref="InferenceException">The request does not fit the model.</exception>
    ValueTask<InferenceRequest> DecodeAsync(LoadedModel model, CancellationToken cancellation);

    /// <summary>Writes the response. Takes ownership of <paramref name="response"/>: it disposes it,
    /// or hands it to the returned message, which gives it back once it is sent.</summary>
    TResult Encode(LoadedModel model, InferenceRequest request, InferenceResponse response);

    /// <summary>The status a trace records for the outcome: <paramref name="error"/> null for
    /// success, otherwise what ended the request, named in the protocol's own status vocabulary.</summary>
    string TraceStatus(Exception? error);
}
