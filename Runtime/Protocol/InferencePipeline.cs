using System.Diagnostics;
using System.Runtime.CompilerServices;
using Fabrik.Caching;
using Fabrik.Inference;
using Fabrik.Errors;
using Fabrik.Models;
using Fabrik.Observability;
using Fabrik.Observability.Tracing;
using Fabrik.Tenancy;

namespace Fabrik.Protocol;

/// <summary>
/// The one path every inference takes, whatever protocol it came in on: resolve the model and
/// hold a lease on it, start the trace, let the protocol decode, hand the request to the model's
/// scheduler, let the protocol encode, then record the outcome and give everything back.
/// Protocols contribute only their decoding and encoding (<see cref="IInferenceExchange{TResult}"/>).
/// </summary>
/// <remarks>
/// Failure bookkeeping, the same for every protocol:
/// <list type="bullet">
/// <item>an unknown model or version is not counted (there is no model to count it on);</item>
/// <item>a request that fails before it reaches the scheduler (decoding, validation, the transport
/// breaking while the body is read) counts as a failure of the model, reason
/// <see cref="FailureReason.Canceled"/> when the caller went away and <see cref="FailureReason.Other"/> otherwise;</item>
/// <item>from the scheduler on, the scheduler counts success and failure itself, so a failure while
/// encoding an executed request is not counted twice.</item>
/// </list>
/// A request whose caller has a tenant is added to the tenant's usage of the model here, counted
/// as the statistics count it (a success once the scheduler answered it or the cache did, a failure
/// otherwise), so that the usage records add up to the statistics extension's totals.
/// Thread-safe and stateless per request; one instance serves the whole server.
/// </remarks>
internal sealed class InferencePipeline(ModelManager models, InferenceTracing? tracing = null)
{
    /// <summary>Runs one inference of <paramref name="modelName"/> (version <paramref name="version"/>,
    /// null or empty for the policy's choice).</summary>
    /// <exception cref="InferenceException">What the client is to be told; the bookkeeping is done.</exception>
    /// <remarks>Other exceptions (the transport's own) propagate after the bookkeeping, for the
    /// protocol to answer. The state machine comes from a pool, so a request allocates none.
    /// For a model whose responses are cached, a hit is answered here without queueing or running
    /// anything (Triton's statistics: a success with no execution); a miss runs as usual and its
    /// response is stored before it is encoded. Failed requests are never stored.</remarks>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<TResult> RunAsync<TExchange, TResult>(string modelName, string? version, TExchange exchange, CancellationToken cancellation)
        where TExchange : IInferenceExchange<TResult>
    {
        var received = Stopwatch.GetTimestamp();
        using var lease = models.Acquire(modelName, version);
        var model = lease.Model;
        var trace = tracing?.Start(exchange.Protocol, model.Name, model.VersionText, exchange.TraceParent, exchange.TraceState);
        InferenceRequest? request = null;
        Exception? failure = null;
        var scheduled = false;
        var succeeded = false;
        var responseBytes = 0L;
        var key = default(CacheKey);
        try
        {
            request = await exchange.DecodeAsync(model, cancellation);
            request.ReceivedTimestamp = received;
            request.Timeline = trace is null ? null : new RequestTimeline();
            // The cache is consulted here, past the access checks (which ran before the request was
            // routed), and a hit never reaches the scheduler.
            var cache = model.ResponseCache;
            var lookupTicks = 0L;
            if (cache is not null)
            {
                var lookupStart = Stopwatch.GetTimestamp();
                key = cache.CreateKey(request);
                if (cache.TryGet(key) is { } hit)
                {
                    model.Statistics.RecordCacheHit(received, Stopwatch.GetTimestamp() - lookupStart);
                    scheduled = true; // counted: a failure to encode is not counted again
                    succeeded = true;
                    return Encoded(exchange, exchange.Encode(model, request, hit), ref responseBytes);
                }
                lookupTicks = Stopwatch.GetTimestamp() - lookupStart;
            }
            scheduled = true;
            var response = await model.InferAsync(request);
            succeeded = true;
            if (cache is not null)
            {
                var insertStart = Stopwatch.GetTimestamp();
                StoreOrDispose(cache, key, response);
                model.Statistics.CacheMiss.Record(lookupTicks + Stopwatch.GetTimestamp() - insertStart);
            }
            return Encoded(exchange, exchange.Encode(model, request, response), ref responseBytes);
        }
        catch (Exception e)
        {
            failure = e;
            if (!scheduled)
            {
                var reason = e is OperationCanceledException && cancellation.IsCancellationRequested ? FailureReason.Canceled : FailureReason.Other;
                model.Statistics.RecordFailure(received, reason);
            }
            throw;
        }
        finally
        {
            InferenceTracing.Finish(trace, request?.BatchSize ?? 0, request?.Timeline, exchange.TraceStatus(failure), failed: failure is not null);
            if (exchange.Tenant is { } tenant)
            {
                RecordUsage(tenant.Usage(model.Name), succeeded, request?.BatchSize ?? 0, exchange.RequestBytes, responseBytes);
            }
            key.Dispose();
            request?.Dispose();
        }
    }

    /// <summary>The encoded result, its size taken for the tenant's usage when there is a tenant.</summary>
    private static TResult Encoded<TExchange, TResult>(TExchange exchange, TResult result, ref long responseBytes)
        where TExchange : IInferenceExchange<TResult>
    {
        if (exchange.Tenant is not null)
        {
            responseBytes = exchange.ResponseBytes(result);
        }
        return result;
    }

    private static void RecordUsage(ModelUsage usage, bool succeeded, int rows, long requestBytes, long responseBytes)
    {
        if (succeeded)
        {
            usage.RecordSuccess(rows);
        }
        else
        {
            usage.RecordFailure();
        }
        usage.RecordBytes(requestBytes, responseBytes);
    }

    /// <summary>Copies <paramref name="response"/> into the cache; the caller keeps it, unless
    /// storing fails, when it is given back before the failure propagates.</summary>
    private static void StoreOrDispose(VersionResponseCache cache, in CacheKey key, InferenceResponse response)
    {
        try
        {
            cache.Store(key, response);
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }
}
