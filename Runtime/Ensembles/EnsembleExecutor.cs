using Fabrik.Errors;
using Fabrik.Inference;
using Fabrik.Observability;

namespace Fabrik.Ensembles;

/// <summary>
/// Runs requests through one ensemble version: each request becomes an <see cref="EnsembleRun"/>
/// over the plan, and its outcome is counted on the ensemble's statistics (its steps are counted
/// by their own models' schedulers, as Triton counts them). With <c>max_inflight_requests</c>, at
/// most that many requests are inside the ensemble at once, shared by all of them: the rest wait,
/// holding only their own inputs, so a slow step cannot let intermediate tensors pile up.
/// </summary>
/// <remarks>Thread-safe; one per ensemble version, built when it loads and kept unchanged.</remarks>
internal sealed class EnsembleExecutor(EnsemblePlan plan, IComposingModels models, ModelStatistics statistics)
{
    private readonly SemaphoreSlim? _inflight = plan.MaxInflightRequests > 0 ? new(plan.MaxInflightRequests, plan.MaxInflightRequests) : null;
    private int _inside;
    private int _waiting;

    /// <summary>The checked plan.</summary>
    public EnsemblePlan Plan => plan;

    /// <summary>Requests inside the ensemble now (past the max_inflight_requests bound).</summary>
    public int Inside => Volatile.Read(ref _inside);

    /// <summary>Requests waiting for room under max_inflight_requests.</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>Runs <paramref name="request"/> (which stays the caller's) and completes with the
    /// ensemble's outputs (which become the caller's).</summary>
    /// <exception cref="InferenceException">The first failing step's error, naming the step; its
    /// kind is the step's (a client's mistake stays InvalidArgument).</exception>
    public async Task<InferenceResponse> InferAsync(InferenceRequest request)
    {
        try
        {
            if (_inflight is not null)
            {
                Interlocked.Increment(ref _waiting);
                try
                {
                    await _inflight.WaitAsync(request.Cancellation);
                }
                finally
                {
                    Interlocked.Decrement(ref _waiting);
                }
            }
            InferenceResponse response;
            Interlocked.Increment(ref _inside);
            try
            {
                response = await EnsembleRun.RunAsync(plan, request, models);
            }
            finally
            {
                Interlocked.Decrement(ref _inside);
                _inflight?.Release();
            }
            statistics.RecordEnsembleSuccess(request.ReceivedTimestamp, request.BatchSize);
            return response;
        }
        catch (Exception e)
        {
            statistics.RecordFailure(request.ReceivedTimestamp, e switch
            {
                OperationCanceledException => FailureReason.Canceled,
                InferenceException { Kind: ErrorKind.Overloaded } => FailureReason.Rejected,
                InferenceException { Kind: ErrorKind.InvalidArgument } => FailureReason.Other,
                _ => FailureReason.Backend,
            });
            throw;
        }
    }
}
