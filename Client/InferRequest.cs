namespace Fabrik.Client;

/// <summary>
/// One inference request: the model, its inputs, the outputs wanted and the request parameters.
/// <code>
/// var request = new InferRequest("simple")
/// {
///     Inputs = { InferInput.Create("INPUT0", a, 1, 16), InferInput.Create("INPUT1", b, 1, 16) },
///     Priority = 1,
/// };
/// </code>
/// A request may be sent again (a retry does); it holds no state of a call.
/// </summary>
/// <param name="modelName">The model to run.</param>
public sealed class InferRequest(string modelName)
{
    /// <summary>The model to run.</summary>
    public string ModelName { get; } = string.IsNullOrEmpty(modelName) ? throw new ArgumentException("a model name is required", nameof(modelName)) : modelName;

    /// <summary>The version to run; null lets the server choose (its newest, by default).</summary>
    public string? ModelVersion { get; init; }

    /// <summary>An id the server echoes in its answer, and that errors carry when the server gives none.</summary>
    public string? Id { get; init; }

    /// <summary>The input tensors.</summary>
    public IList<InferInput> Inputs { get; } = new List<InferInput>();

    /// <summary>The outputs wanted; empty asks for all of them.</summary>
    public IList<InferRequestedOutput> Outputs { get; } = new List<InferRequestedOutput>();

    /// <summary>The <c>priority</c> parameter: the priority level, 1 being the highest; 0 or null
    /// takes the model's default level.</summary>
    public ulong? Priority { get; set; }

    /// <summary>The <c>timeout</c> parameter in microseconds: how long the request may wait in
    /// the server's queue, where the model's queue policy lets a request shorten it.</summary>
    public ulong? TimeoutMicroseconds { get; set; }

    /// <summary>The <c>sequence_id</c> parameter of a stateful model: an unsigned integer or a string.</summary>
    public ParameterValue? SequenceId { get; set; }

    /// <summary>The <c>sequence_start</c> parameter: this request starts its sequence.</summary>
    public bool SequenceStart { get; set; }

    /// <summary>The <c>sequence_end</c> parameter: this request ends its sequence.</summary>
    public bool SequenceEnd { get; set; }

    /// <summary>Other request parameters, sent as given (after the named ones above, which win).</summary>
    public IDictionary<string, ParameterValue> Parameters { get; } = new Dictionary<string, ParameterValue>(StringComparer.Ordinal);

    /// <summary>Adds an input; returns this request.</summary>
    public InferRequest WithInput(InferInput input)
    {
        Inputs.Add(input ?? throw new ArgumentNullException(nameof(input)));
        return this;
    }

    /// <summary>Asks for an output (binary or not as the client's options say); returns this request.</summary>
    public InferRequest WithOutput(string name, bool? binary = null)
    {
        Outputs.Add(new InferRequestedOutput(name) { Binary = binary });
        return this;
    }

    /// <summary>Asks for an output written into a shared-memory region instead of returned in the
    /// answer; returns this request.</summary>
    public InferRequest WithOutput(string name, SharedMemoryRange range)
    {
        Outputs.Add(new InferRequestedOutput(name) { SharedMemory = range ?? throw new ArgumentNullException(nameof(range)) });
        return this;
    }

    /// <summary>Whether any parameter goes onto the wire (most requests have none: no enumerator is made for them).</summary>
    internal bool HasWireParameters => Parameters.Count > 0 || Priority is not null || TimeoutMicroseconds is not null || SequenceId is not null;

    /// <summary>Every request parameter as it goes onto the wire: the custom ones, then the named
    /// ones (priority, timeout, sequence) over them.</summary>
    internal IEnumerable<KeyValuePair<string, ParameterValue>> WireParameters()
    {
        foreach (var parameter in Parameters)
        {
            if (!IsNamed(parameter.Key))
            {
                yield return parameter;
            }
        }
        if (Priority is { } priority)
        {
            yield return new("priority", priority);
        }
        if (TimeoutMicroseconds is { } timeout)
        {
            // Triton reads the timeout as int64_param and a numeric sequence id likewise.
            yield return new("timeout", (long)Math.Min(timeout, long.MaxValue));
        }
        if (SequenceId is { } sequence)
        {
            yield return new("sequence_id", sequence.Kind == ParameterKind.UInt64 && sequence.AsUInt64() <= long.MaxValue ? sequence.AsInt64() : sequence);
            yield return new("sequence_start", SequenceStart);
            yield return new("sequence_end", SequenceEnd);
        }
    }

    private bool IsNamed(string key) => key switch
    {
        "priority" => Priority is not null,
        "timeout" => TimeoutMicroseconds is not null,
        "sequence_id" or "sequence_start" or "sequence_end" => SequenceId is not null,
        _ => false,
    };
}
