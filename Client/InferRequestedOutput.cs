namespace Fabrik.Client;

/// <summary>An output the caller asks for. A request that names none gets every output of the model.</summary>
/// <param name="Name">The output's name, as the model declares it.</param>
public sealed record InferRequestedOutput(string Name)
{
    /// <summary>Over HTTP, whether the output comes back as binary data after the JSON header
    /// (the binary tensor extension) rather than as a JSON array; null follows
    /// <see cref="FabrikClientOptions.HttpTensorFormat"/>. gRPC always returns raw bytes.</summary>
    public bool? Binary { get; init; }

    /// <summary>Where the server writes this output instead of returning it in the answer (Triton's
    /// system shared-memory extension); the answer's <see cref="InferOutput"/> then carries no data
    /// and names the region and the bytes written.</summary>
    public SharedMemoryRange? SharedMemory { get; init; }

    /// <summary>Parameters of this output (Triton's <c>classification</c>, for example), sent as given.</summary>
    public IDictionary<string, ParameterValue> Parameters { get; init; } = new Dictionary<string, ParameterValue>(StringComparer.Ordinal);
}
