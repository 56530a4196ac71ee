using Fabrik.Tensors;

namespace Fabrik.Inference;

/// <summary>
/// One decoded, validated inference request, independent of the protocol it came over. The
/// protocol layer holds the lease on the model version it was decoded for.
/// </summary>
/// <remarks>
/// Ownership: the protocol layer creates it and owns its input buffers; it stays the owner while
/// the scheduler runs the request, and disposes the request after the response is written.
/// The scheduler reads the inputs but never frees them.
/// </remarks>
internal sealed class InferenceRequest : IDisposable
{
    public InferenceRequest(TensorBuffer?[] inputs, int batchSize)
    {
        Inputs = inputs;
        BatchSize = batchSize;
    }

    /// <summary>Inputs in the model's configuration order; null where an optional input was omitted.</summary>
    public TensorBuffer?[] Inputs { get; }

    /// <summary>Rows in the batch dimension (1 for models that do not batch).</summary>
    public int BatchSize { get; }

    /// <summary>The client's request id, echoed in the response.</summary>
    public string? Id { get; init; }

    /// <summary>Indices into the model's outputs, in the order the client asked for them; null
    /// means every output in configuration order.</summary>
    public int[]? RequestedOutputs { get; init; }

    /// <summary>Per model output (configuration order): true where the client asked for the
    /// output in binary form; null when every output travels as JSON.</summary>
    public bool[]? BinaryOutputs { get; init; }

    /// <summary>Per model output (configuration order): the shared-memory range the client asked
    /// the output to be written into, or null where it travels in the response; null when no
    /// output goes to shared memory.</summary>
    public SharedMemoryRange?[]? OutputRegions { get; init; }

    /// <summary>Request-level parameters other than the protocol's own (such as binary_data_output),
    /// passed through to the scheduler and backends: each value is a bool, long, ulong, double or
    /// string. Empty when the client sent none.</summary>
    public IReadOnlyDictionary<string, object> Parameters { get; init; } = NoParameters;

    /// <summary>The shared empty parameter set.</summary>
    public static readonly IReadOnlyDictionary<string, object> NoParameters = new Dictionary<string, object>();

    /// <summary>Stopwatch timestamp of the request's arrival, for the statistics.</summary>
    public long ReceivedTimestamp { get; set; } = System.Diagnostics.Stopwatch.GetTimestamp();

    /// <summary>Set on traced requests only: the scheduler fills in queue and compute times.</summary>
    public Observability.Tracing.RequestTimeline? Timeline { get; set; }

    /// <summary>The tenant the request is charged to; null when the server declares no tenants
    /// (every caller then shares the queue as one).</summary>
    public RequestTenant? Tenant { get; init; }

    /// <summary>Signalled when the client goes away.</summary>
    public CancellationToken Cancellation { get; init; }

    public void Dispose()
    {
        foreach (var input in Inputs)
        {
            input?.Dispose();
        }
    }
}
