using System.Collections.Concurrent;
using System.Collections.Immutable;
using Fabrik.Configuration;
using Fabrik.Execution;
using Fabrik.Inference;
using Fabrik.Models;
using Fabrik.Observability;
using Fabrik.Scheduling;
using Fabrik.Tensors;
using Microsoft.Extensions.Logging.Abstractions;

namespace Fabrik.Tests.Scheduling;

/// <summary>
/// An execution instance that holds each batch until the test releases it, records what it ran,
/// and returns its INT32 input unchanged as the output; a batch whose first value is negative fails
/// as a broken backend would (an exception of the backend's own, not a refusal of the request). It makes the order of executions
/// deterministic, which real sessions on a noisy machine cannot.
/// </summary>
internal sealed class GatedInstance(TensorMemoryPool pool) : IModelInstance
{
    private readonly SemaphoreSlim _release = new(0);
    private readonly SemaphoreSlim _started = new(0);
    private int _startedCount;

    /// <summary>The values of each batch's input, in execution order.</summary>
    public ConcurrentQueue<int[]> Runs { get; } = new();

    /// <summary>The managed thread of each run, in execution order.</summary>
    public ConcurrentQueue<int> Threads { get; } = new();

    public string Device => "test";

    /// <summary>Batches that have started on this instance.</summary>
    public int StartedCount => Volatile.Read(ref _startedCount);

    public TensorBuffer[] Run(TensorBuffer?[] inputs, ref ExecutionTimings timings, TimeSpan? timeLeft)
    {
        Interlocked.Increment(ref _startedCount);
        Threads.Enqueue(Environment.CurrentManagedThreadId);
        _started.Release();
        if (!_release.Wait(TimeSpan.FromSeconds(30)))
        {
            throw new TimeoutException("the test never released the batch");
        }
        var input = inputs[0]!;
        Runs.Enqueue(input.As<int>().ToArray());
        if (input.As<int>()[0] < 0)
        {
            throw new InvalidOperationException("the test's backend failed");
        }
        var output = new TensorBuffer(pool, DataType.Int32, (long[])input.Shape.Clone(), input.ElementCount, input.ByteLength);
        input.Bytes.CopyTo(output.Bytes);
        timings.InferTicks = 1;
        return [output];
    }

    /// <summary>Waits until a batch has started running on this instance.</summary>
    public void WaitStarted()
    {
        if (!_started.Wait(TimeSpan.FromSeconds(30)))
        {
            throw new TimeoutException("no batch started");
        }
    }

    public void Release(int batches = 1) => _release.Release(batches);

    public void Dispose()
    {
    }
}

/// <summary>A scheduler over gated instances for a model with one INT32 input of dims
/// [<c>width</c>] (2 unless asked), using <c>pool</c> (a new unlimited one unless given).</summary>
internal sealed class SchedulerHarness : IAsyncDisposable
{
    private readonly int _width;

    public SchedulerHarness(DynamicBatchingConfig? batching, int maxBatchSize = 8, int instances = 1, TensorMemoryPool? pool = null, int width = 2)
    {
        _width = width;
        Pool = pool ?? new TensorMemoryPool();
        Config = new ModelConfig
        {
            Name = "gated",
            Platform = "onnxruntime_onnx",
            MaxBatchSize = maxBatchSize,
            Inputs = [new TensorConfig("INPUT0", DataType.Int32, ImmutableArray.Create((long)width))],
            Outputs = [new TensorConfig("OUTPUT0", DataType.Int32, ImmutableArray.Create((long)width))],
            DynamicBatching = batching,
        };
        Instances = Enumerable.Range(0, instances).Select(_ => new GatedInstance(Pool)).ToArray();
        Model = LoadedModel.Create(Config, 1, Instances, Pool, Time, NullLoggerFactory.Instance);
        Statistics = Model.Statistics;
        Scheduler = Model.Scheduler;
    }

    public TensorMemoryPool Pool { get; }

    public ManualTimeProvider Time { get; } = new();

    public ModelConfig Config { get; }

    public GatedInstance[] Instances { get; }

    public ModelStatistics Statistics { get; }

    public ModelScheduler Scheduler { get; }

    public LoadedModel Model { get; }

    /// <summary>A request of <paramref name="rows"/> rows whose values start at <paramref name="first"/>,
    /// its buffer rented from <paramref name="from"/> (the harness's pool unless given), charged to
    /// <paramref name="tenant"/> (none unless given).</summary>
    public InferenceRequest Request(int rows, int first, IReadOnlyDictionary<string, object>? parameters = null, CancellationToken cancellation = default, TensorMemoryPool? from = null,
        RequestTenant? tenant = null)
    {
        var buffer = new TensorBuffer(from ?? Pool, DataType.Int32, Config.MaxBatchSize > 0 ? [rows, _width] : [_width], rows * _width, rows * _width * 4);
        var values = buffer.As<int>();
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = first + i;
        }
        return new InferenceRequest([buffer], rows)
        {
            Parameters = parameters ?? InferenceRequest.NoParameters,
            Cancellation = cancellation,
            Tenant = tenant,
        };
    }

    /// <summary>Calls InferAsync on another thread: with no delay, an idle instance and an empty
    /// queue, the scheduler runs the request inline on the caller's thread, and a gated instance
    /// would then hold the test itself.</summary>
    public Task<InferenceResponse> Infer(InferenceRequest request) => Task.Run(() => Scheduler.InferAsync(request));

    public static IReadOnlyDictionary<string, object> Priority(long level) => new Dictionary<string, object> { ["priority"] = level };

    public async ValueTask DisposeAsync()
    {
        foreach (var instance in Instances)
        {
            instance.Release(100);
        }
        await Scheduler.DisposeAsync();
    }
}
