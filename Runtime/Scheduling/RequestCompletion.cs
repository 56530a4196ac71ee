using System.Diagnostics;
using Fabrik.Errors;
using Fabrik.Inference;
using Fabrik.Observability;
using Fabrik.Tensors;

namespace Fabrik.Scheduling;

/// <summary>
/// Answers a request that has left its queue, exactly once: records the outcome in the model's
/// statistics and completes the caller's task, in arrival order when preserve_ordering is set.
/// </summary>
/// <remarks>Thread-safe; never called under the scheduler's lock, since completing a task may run
/// the caller's continuation (<see cref="OrderedCompletion"/> runs completions outside its own
/// lock too).</remarks>
internal sealed class RequestCompletion(ModelStatistics statistics, bool preserveOrdering, string modelName)
{
    private readonly OrderedCompletion? _ordering = preserveOrdering ? new OrderedCompletion() : null;

    /// <summary>Finished responses held back by preserve_ordering.</summary>
    public int Held => _ordering?.Held ?? 0;

    /// <summary>Answers with <paramref name="outputs"/>, which become the response's (and are
    /// freed here if the caller's task was already completed).</summary>
    public void Succeed(PendingRequest pending, TensorBuffer[] outputs)
    {
        var response = new InferenceResponse(outputs);
        if (!pending.Filler)
        {
            statistics.Success.Record(Stopwatch.GetTimestamp() - pending.Request.ReceivedTimestamp);
        }
        Complete(pending, p =>
        {
            if (!p.Completion.TrySetResult(response))
            {
                response.Dispose();
            }
        });
    }

    /// <summary>Answers with an execution's error; a refused request counts as Other, anything
    /// else as a backend failure.</summary>
    public void Fail(PendingRequest pending, InferenceException error)
    {
        if (!pending.Filler)
        {
            statistics.RecordFailure(pending.Request.ReceivedTimestamp, error.Kind == ErrorKind.InvalidArgument ? FailureReason.Other : FailureReason.Backend);
        }
        Complete(pending, p => p.Completion.TrySetException(error));
    }

    /// <summary>The client went away while the request was queued.</summary>
    public void Cancel(PendingRequest pending)
    {
        statistics.RecordFailure(pending.Request.ReceivedTimestamp, FailureReason.Canceled);
        Complete(pending, p => p.Completion.TrySetCanceled(p.Request.Cancellation));
    }

    /// <summary>The request's REJECT queue timeout passed before it ran.</summary>
    public void TimedOut(PendingRequest pending)
    {
        statistics.RecordFailure(pending.Request.ReceivedTimestamp, FailureReason.Rejected);
        Complete(pending, p => p.Completion.TrySetException(InferenceException.Unavailable(
            $"Request timeout expired: the request waited longer than its queue timeout for model '{modelName}'")));
    }

    private void Complete(PendingRequest pending, Action<PendingRequest> complete)
    {
        if (_ordering is null)
        {
            complete(pending);
        }
        else
        {
            _ordering.Complete(pending, complete);
        }
    }
}
