using System.Collections.Concurrent;
using Fabrik.Execution;
using Fabrik.Tensors;

namespace Fabrik.Tests.Scheduling.Sequences;

/// <summary>
/// An execution instance that holds each batch until the test releases it and records every input
/// of every batch, row by row, as the model saw them (INT32 and UINT64 values as longs). Its one
/// output is its first input, unchanged.
/// </summary>
internal sealed class RecordingInstance(TensorMemoryPool pool) : IModelInstance
{
    private readonly SemaphoreSlim _release = new(0);
    private readonly SemaphoreSlim _started = new(0);

    /// <summary>Each batch: each input's values, in the backend's input order.</summary>
    public ConcurrentQueue<long[][]> Runs { get; } = new();

    public string Device => "test";

    public TensorBuffer[] Run(TensorBuffer?[] inputs, ref ExecutionTimings timings, TimeSpan? timeLeft)
    {
        _started.Release();
        if (!_release.Wait(TimeSpan.FromSeconds(30)))
        {
            throw new TimeoutException("the test never released the batch");
        }
        Runs.Enqueue([.. inputs.Select(input => input!.DataType == DataType.UInt64
            ? input.As<ulong>().ToArray().Select(value => (long)value).ToArray()
            : input.As<int>().ToArray().Select(value => (long)value).ToArray())]);
        var first = inputs[0]!;
        var output = new TensorBuffer(pool, first.DataType, (long[])first.Shape.Clone(), first.ElementCount, first.ByteLength);
        first.Bytes.CopyTo(output.Bytes);
        return [output];
    }

    public void WaitStarted()
    {
        if (!_started.Wait(TimeSpan.FromSeconds(30)))
        {
            throw new TimeoutException("no batch started");
        }
    }

    public void Release() => _release.Release();

    public void Dispose()
    {
    }
}
