using System.Diagnostics;
using System.Threading.Channels;
using Fabrik.Execution;
using Fabrik.Observability;
using Fabrik.Protocol;

namespace Fabrik.Scheduling;

/// <summary>
/// A model's request queue and its execution loops: one loop per instance, each taking the next
/// request when its instance is free. Requests run one at a time per instance, in arrival order.
/// </summary>
/// <remarks>
/// Thread-safe for <see cref="InferAsync"/>. Each instance is used by its own loop only.
/// The scheduler owns the instances and disposes them when it stops.
/// </remarks>
internal sealed class ModelScheduler : IAsyncDisposable
{
    private readonly Channel<PendingRequest> _queue = Channel.CreateUnbounded<PendingRequest>(
        new UnboundedChannelOptions { SingleReader = false, SingleWriter = false });
    private readonly IModelInstance[] _instances;
    private readonly Task[] _loops;
    private readonly ILogger _logger;
    private readonly ModelStatistics _statistics;

    public ModelScheduler(string modelName, IModelInstance[] instances, ModelStatistics statistics, ILogger logger)
    {
        ModelName = modelName;
        _statistics = statistics;
        _instances = instances;
        _logger = logger;
        _loops = new Task[instances.Length];
        for (var i = 0; i < instances.Length; i++)
        {
            var instance = instances[i];
            _loops[i] = Task.Run(() => RunLoopAsync(instance));
        }
    }

    /// <summary>The model this scheduler serves.</summary>
    public string ModelName { get; }

    /// <summary>Queues <paramref name="request"/> and completes with its outputs. The request stays
    /// owned by the caller; the response becomes the caller's.</summary>
    public Task<InferenceResponse> InferAsync(InferenceRequest request)
    {
        var pending = new PendingRequest(request);
        if (!_queue.Writer.TryWrite(pending))
        {
            throw InferenceException.Unavailable($"model '{ModelName}' is unloading and takes no new requests");
        }
        return pending.Completion.Task;
    }

    private async Task RunLoopAsync(IModelInstance instance)
    {
        await foreach (var pending in _queue.Reader.ReadAllAsync())
        {
            var request = pending.Request;
            if (request.Cancellation.IsCancellationRequested)
            {
                pending.Completion.TrySetCanceled(request.Cancellation);
                continue;
            }
            _statistics.Queue.Record(Stopwatch.GetTimestamp() - pending.EnqueuedTimestamp);
            try
            {
                var timings = default(ExecutionTimings);
                var outputs = instance.Run(request.Inputs, ref timings);
                _statistics.RecordExecution(request.BatchSize, 1, timings);
                var response = new InferenceResponse(outputs);
                _statistics.Success.Record(Stopwatch.GetTimestamp() - request.ReceivedTimestamp);
                if (!pending.Completion.TrySetResult(response))
                {
                    response.Dispose();
                }
            }
            catch (InferenceException e)
            {
                _statistics.RecordFailure(request.ReceivedTimestamp);
                pending.Completion.TrySetException(e);
            }
            catch (Exception e)
            {
                _statistics.RecordFailure(request.ReceivedTimestamp);
                _logger.LogError(e, "Model {Model} failed on {Device}", ModelName, instance.Device);
                pending.Completion.TrySetException(new InferenceException(ErrorKind.Internal, $"model '{ModelName}' failed: {e.Message}", e));
            }
        }
    }

    /// <summary>Stops intake, lets queued requests finish, then frees the instances.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await Task.WhenAll(_loops);
        foreach (var instance in _instances)
        {
            instance.Dispose();
        }
    }

    private sealed class PendingRequest(InferenceRequest request)
    {
        public InferenceRequest Request { get; } = request;

        public TaskCompletionSource<InferenceResponse> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public long EnqueuedTimestamp { get; } = Stopwatch.GetTimestamp();
    }
}
