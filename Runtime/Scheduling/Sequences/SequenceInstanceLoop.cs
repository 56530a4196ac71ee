using Fabrik.Configuration;
using Fabrik.Inference;
using Fabrik.Tensors;

namespace Fabrik.Scheduling.Sequences;

/// <summary>
/// The execution loop of one instance under the sequence batcher: asks the
/// <see cref="SequenceBatchPlanner"/> which of its slots run next, fills each row's control inputs
/// and implicit state (and the empty rows of <c>direct</c>), hands the batch to the instance's
/// <see cref="IBatchExecutor"/> (the same executors the dynamic batcher uses), waits for the
/// answers, keeps each sequence's new state, and answers the callers without it. A sequence's next
/// request is planned only after its previous one was answered, so requests run in order.
/// </summary>
/// <remarks>Locking: plans and takes requests under <see cref="SequenceBatcher.Gate"/>; builds,
/// runs and answers outside it. The wake signal is guarded by the gate.</remarks>
internal sealed class SequenceInstanceLoop(
    int instance, SequenceBatcher batcher, IBatchExecutor executor, InstanceSlots runs, SequenceBatchRules rules, SlotTensors tensors,
    SequenceBatchingConfig sequences, int clientInputs, int clientOutputs, TimeProvider time)
{
    private TaskCompletionSource? _wake;

    /// <summary>Makes the loop plan again. Under the gate.</summary>
    public void Wake()
    {
        var wake = _wake;
        _wake = null;
        wake?.TrySetResult(); // continuations run asynchronously: nothing runs under the gate
    }

    public async Task RunAsync()
    {
        var take = new List<int>();
        var taken = new List<(Sequence Sequence, SequenceRequest Request)>();
        while (true)
        {
            Task wake;
            var wait = long.MaxValue;
            var rows = 0;
            lock (batcher.Gate)
            {
                var now = time.GetTimestamp();
                var plan = SequenceBatchPlanner.Plan(batcher.SlotsOf(instance), rules, now, batcher.Stopping, take);
                if (plan.Rows > 0)
                {
                    batcher.Take(instance, take, taken);
                    rows = plan.Rows;
                    wake = Task.CompletedTask;
                }
                else if (batcher.Stopping && batcher.Drained(instance))
                {
                    return;
                }
                else
                {
                    _wake ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    wake = _wake.Task;
                    wait = plan.WaitTicks;
                }
            }
            if (rows > 0)
            {
                await RunBatchAsync(rows, take, taken);
                batcher.Finished(taken);
                taken.Clear();
                continue;
            }
            await WaitAsync(wake, wait);
        }
    }

    private async Task WaitAsync(Task wake, long ticks)
    {
        if (ticks == long.MaxValue)
        {
            await wake;
            return;
        }
        using var cancel = new CancellationTokenSource();
        await Task.WhenAny(wake, Task.Delay(TimeSpan.FromSeconds(ticks / (double)time.TimestampFrequency), time, cancel.Token));
        await cancel.CancelAsync();
    }

    /// <summary>Builds the batch (row r is slot r under direct, the r-th oldest under oldest), runs
    /// it, and answers its requests.</summary>
    private async Task RunBatchAsync(int rows, List<int> take, List<(Sequence Sequence, SequenceRequest Request)> taken)
    {
        var batch = new List<PendingRequest>(rows);
        var owned = new List<TensorBuffer>(rows * (sequences.Controls.Length + 1));
        var reference = taken[0].Request.Pending.Request;
        var direct = rules.Strategy == SequenceStrategy.Direct;
        try
        {
            var next = 0;
            for (var row = 0; row < rows; row++)
            {
                if (next < taken.Count && (!direct || take[next] == row))
                {
                    batch.Add(Prepare(taken[next].Sequence, taken[next].Request, owned));
                    next++;
                }
                else
                {
                    batch.Add(EmptySlot(reference, owned));
                }
            }
        }
        catch (Exception e)
        {
            // A pooled buffer that could not be rented: nothing ran; the requests fail, their
            // sequences go on.
            var error = e as Errors.InferenceException ?? Errors.InferenceException.Overloaded(e.Message);
            foreach (var (_, request) in taken)
            {
                request.Client.TrySetException(error);
            }
            BatchAssembler.Dispose(owned);
            return;
        }
        try
        {
            runs.BeginRun(instance);
            executor.Execute(batch);
        }
        finally
        {
            runs.EndRun(instance);
        }
        foreach (var pending in batch)
        {
            await ((Task)pending.Completion.Task).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        foreach (var (sequence, request) in taken)
        {
            Answer(sequence, request);
        }
        foreach (var pending in batch)
        {
            if (pending.Filler && pending.Completion.Task.IsCompletedSuccessfully)
            {
                pending.Completion.Task.Result.Dispose();
            }
        }
        BatchAssembler.Dispose(owned);
    }

    /// <summary>Fills a request's control inputs and state input. The state tensors stay the
    /// sequence's; the control tensors go into <paramref name="owned"/>.</summary>
    private PendingRequest Prepare(Sequence sequence, SequenceRequest request, List<TensorBuffer> owned)
    {
        var inputs = request.Pending.Request.Inputs;
        var flags = request.Flags;
        for (var c = 0; c < sequences.Controls.Length; c++)
        {
            var control = sequences.Controls[c];
            var tensor = control.Kind switch
            {
                SequenceControlKind.Start => tensors.Flag(control, flags.Start),
                SequenceControlKind.End => tensors.Flag(control, flags.End),
                SequenceControlKind.Ready => tensors.Flag(control, true),
                _ => tensors.CorrelationId(control, flags.Id),
            };
            owned.Add(tensor);
            inputs[clientInputs + c] = tensor;
        }
        for (var s = 0; s < sequences.States.Length; s++)
        {
            if (flags.Start || sequence.States[s] is null)
            {
                sequence.States[s]?.Dispose();
                sequence.States[s] = tensors.InitialState(sequences.States[s]);
            }
            inputs[clientInputs + sequences.Controls.Length + s] = sequence.States[s];
        }
        return request.Pending;
    }

    /// <summary>A row for a slot without a request: zero inputs shaped like the batch's,
    /// READY, START and END false, CORRID 0, states at their initial value.</summary>
    private PendingRequest EmptySlot(InferenceRequest reference, List<TensorBuffer> owned)
    {
        var inputs = new TensorBuffer?[reference.Inputs.Length];
        for (var i = 0; i < clientInputs; i++)
        {
            if (reference.Inputs[i] is { } template)
            {
                var zero = tensors.Zero(template);
                owned.Add(zero);
                inputs[i] = zero;
            }
        }
        for (var c = 0; c < sequences.Controls.Length; c++)
        {
            var control = sequences.Controls[c];
            var tensor = control.Kind == SequenceControlKind.CorrelationId ? tensors.CorrelationId(control, null) : tensors.Flag(control, false);
            owned.Add(tensor);
            inputs[clientInputs + c] = tensor;
        }
        for (var s = 0; s < sequences.States.Length; s++)
        {
            var state = tensors.InitialState(sequences.States[s]);
            owned.Add(state);
            inputs[clientInputs + sequences.Controls.Length + s] = state;
        }
        return new PendingRequest(new InferenceRequest(inputs, 1), time.GetTimestamp(), -1) { Filler = true };
    }

    /// <summary>Keeps the state outputs as the sequence's state and answers the caller with the
    /// model's other outputs (or the run's error; the state then stays as it was).</summary>
    private void Answer(Sequence sequence, SequenceRequest request)
    {
        var task = request.Pending.Completion.Task;
        if (task.IsCompletedSuccessfully)
        {
            var outputs = task.Result.Outputs;
            for (var s = 0; s < sequences.States.Length; s++)
            {
                sequence.States[s]?.Dispose();
                sequence.States[s] = outputs[clientOutputs + s];
            }
            var response = new InferenceResponse(outputs[..clientOutputs]);
            if (!request.Client.TrySetResult(response))
            {
                response.Dispose();
            }
        }
        else if (task.Exception is { } failure)
        {
            request.Client.TrySetException(failure.InnerExceptions);
        }
        else
        {
            request.Client.TrySetCanceled();
        }
    }
}
