namespace Fabrik.Client;

/// <summary>
/// One message of the gRPC inference stream: a result, or the error the server reported for one
/// request. The stream goes on after an error, as Triton's does.
/// </summary>
public sealed class StreamInferResponse
{
    /// <summary>A message holding a result.</summary>
    public StreamInferResponse(InferResult result) => Result = result ?? throw new ArgumentNullException(nameof(result));

    /// <summary>A message holding an error.</summary>
    public StreamInferResponse(FabrikException error) => Error = error ?? throw new ArgumentNullException(nameof(error));

    /// <summary>The result, or null when the request failed.</summary>
    public InferResult? Result { get; }

    /// <summary>The error the server reported, or null when the request succeeded.</summary>
    public FabrikException? Error { get; }

    /// <summary>The result; throws the error when there is one.</summary>
    /// <exception cref="FabrikException">The request failed.</exception>
    public InferResult GetResult() => Result ?? throw Error!;
}
