namespace Fabrik.Client;

/// <summary>
/// The answer to an inference request: model, version, id, parameters and the output tensors.
/// Over HTTP the outputs' bytes may lie in a buffer rented from a pool; <see cref="Dispose"/>
/// gives it back, after which the outputs must no longer be read. Not disposing is safe (the
/// buffer is then collected instead of reused).
/// </summary>
public sealed class InferResult : IDisposable
{
    private static readonly IReadOnlyDictionary<string, ParameterValue> NoParameters = new Dictionary<string, ParameterValue>();

    private IDisposable? _buffer;

    /// <summary>A result, as a test or a caching layer builds one.</summary>
    public InferResult(string modelName, string modelVersion, string? id, IReadOnlyList<InferOutput> outputs, IReadOnlyDictionary<string, ParameterValue>? parameters = null)
        : this(modelName, modelVersion, id, outputs, parameters, buffer: null)
    {
    }

    internal InferResult(string modelName, string modelVersion, string? id, IReadOnlyList<InferOutput> outputs, IReadOnlyDictionary<string, ParameterValue>? parameters, IDisposable? buffer)
    {
        ModelName = modelName;
        ModelVersion = modelVersion;
        Id = id;
        Outputs = outputs;
        Parameters = parameters ?? NoParameters;
        _buffer = buffer;
    }

    /// <summary>The model that answered.</summary>
    public string ModelName { get; }

    /// <summary>The version that answered.</summary>
    public string ModelVersion { get; }

    /// <summary>The request's id, echoed by the server; null when the request had none.</summary>
    public string? Id { get; }

    /// <summary>The outputs, in the order the server sent them.</summary>
    public IReadOnlyList<InferOutput> Outputs { get; }

    /// <summary>The response parameters, if the server sent any.</summary>
    public IReadOnlyDictionary<string, ParameterValue> Parameters { get; }

    /// <summary>The output named <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">The answer holds no such output; the message lists those it holds.</exception>
    public InferOutput GetOutput(string name)
    {
        // A model has a handful of outputs: a scan costs less than a dictionary built for each answer.
        for (var i = 0; i < Outputs.Count; i++)
        {
            if (string.Equals(Outputs[i].Name, name, StringComparison.Ordinal))
            {
                return Outputs[i];
            }
        }
        throw new KeyNotFoundException($"the answer from '{ModelName}' has no output '{name}'; it has {string.Join(", ", Outputs.Select(output => $"'{output.Name}'"))}");
    }

    /// <summary>The elements of the output named <paramref name="name"/> as <typeparamref name="T"/>, without copying.</summary>
    /// <exception cref="KeyNotFoundException">No such output.</exception>
    /// <exception cref="InvalidOperationException">The output's datatype does not hold <typeparamref name="T"/>.</exception>
    public ReadOnlySpan<T> GetOutput<T>(string name) where T : unmanaged => GetOutput(name).AsSpan<T>();

    /// <summary>The elements of a BYTES output decoded as UTF-8.</summary>
    /// <exception cref="KeyNotFoundException">No such output.</exception>
    /// <exception cref="InvalidOperationException">The output is not BYTES.</exception>
    public string[] GetStrings(string name) => GetOutput(name).ToStrings();

    /// <summary>Gives the response buffer back to its pool; the outputs must not be read afterwards.</summary>
    public void Dispose() => Interlocked.Exchange(ref _buffer, null)?.Dispose();
}
