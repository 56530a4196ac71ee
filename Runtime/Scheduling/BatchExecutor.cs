using Fabrik.Execution;
using Fabrik.Tensors;

namespace Fabrik.Scheduling;

/// <summary>
/// Runs batches on one instance, one step after another: gather the requests' inputs into one
/// batch (a single request runs on its own buffers), run, scatter the outputs per request, and
/// answer, all before <see cref="Execute"/> returns. The bookkeeping around it (statistics,
/// traces, health, the re-run of refused batches) is <see cref="BatchBookkeeping"/>'s.
/// </summary>
/// <remarks>Ownership: owns its instance (disposed with it) and the gathered and scattered
/// buffers until they become a response's; see <see cref="IBatchExecutor"/> for the batch.
/// Threading: one batch at a time, as the instance itself requires.</remarks>
internal sealed class BatchExecutor(IModelInstance instance, BatchBookkeeping books, TensorMemoryPool pool) : IBatchExecutor
{
    public string Device => instance.Device;

    public int PipelineDepth => 1;

    public TimeSpan LongestRun => TimeSpan.Zero; // the instance slot's run covers it

    public long HoldTicks(long now, int rows) => 0;

    public bool DeviceIdle => true; // while it runs a batch, its instance slot is busy

    public void Execute(List<PendingRequest> batch)
    {
        var totalRows = books.Begin(batch);
        TensorBuffer?[]? gathered = null;
        TensorBuffer[]? outputs = null;
        var inBackend = false; // only the backend's own failures count against its health
        try
        {
            var inputs = batch.Count == 1 ? batch[0].Request.Inputs : gathered = BatchAssembler.Gather(batch, totalRows, pool);
            var timings = default(ExecutionTimings);
            var timeLeft = books.RunBudget(batch);
            inBackend = true;
            outputs = instance.Run(inputs, ref timings, timeLeft);
            inBackend = false;
            books.RecordSuccess(batch, totalRows, timings);
            if (batch.Count == 1)
            {
                books.Completion.Succeed(batch[0], outputs);
                outputs = null; // now the response's
            }
            else
            {
                var split = BatchAssembler.Scatter(outputs, batch, totalRows, pool, books.ModelName);
                for (var i = 0; i < batch.Count; i++)
                {
                    books.Completion.Succeed(batch[i], split[i]);
                }
            }
        }
        catch (Exception e)
        {
            books.Fail(batch, e, inBackend);
        }
        finally
        {
            if (gathered is not null)
            {
                BatchAssembler.Dispose(gathered);
            }
            if (outputs is not null)
            {
                BatchAssembler.Dispose(outputs);
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        instance.Dispose();
        return ValueTask.CompletedTask;
    }
}
