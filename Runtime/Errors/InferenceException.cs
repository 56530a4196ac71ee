namespace Fabrik.Errors;

/// <summary>What kind of failure a client is told about. Every layer may raise one; each protocol
/// maps the kind to its own status code (Protocol/Http/HttpErrors.cs, Protocol/Grpc/GrpcErrors.cs).</summary>
internal enum ErrorKind
{
    /// <summary>The request is malformed or disagrees with the model (HTTP 400, gRPC INVALID_ARGUMENT).</summary>
    InvalidArgument,

    /// <summary>The model or version does not exist (HTTP 404, NOT_FOUND).</summary>
    NotFound,

    /// <summary>The model or server cannot take the request now (HTTP 503, UNAVAILABLE).</summary>
    Unavailable,

    /// <summary>The server has no room for the request now: a full queue or an exhausted memory
    /// pool (HTTP 503 with Retry-After, gRPC RESOURCE_EXHAUSTED).</summary>
    ResourceExhausted,

    /// <summary>The run took longer than its deadline and was stopped (HTTP 504, gRPC
    /// DEADLINE_EXCEEDED).</summary>
    DeadlineExceeded,

    /// <summary>The server failed on a valid request (HTTP 500, INTERNAL).</summary>
    Internal,

    /// <summary>The request asks for something this server does not implement (HTTP 501, UNIMPLEMENTED).</summary>
    Unsupported,
}

/// <summary>A failure to report to the client, with a message that names the problem.</summary>
internal sealed class InferenceException(ErrorKind kind, string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>The category, which each protocol maps to its status code.</summary>
    public ErrorKind Kind { get; } = kind;

    public static InferenceException InvalidArgument(string message) => new(ErrorKind.InvalidArgument, message);

    public static InferenceException NotFound(string message) => new(ErrorKind.NotFound, message);

    public static InferenceException Unavailable(string message) => new(ErrorKind.Unavailable, message);

    public static InferenceException ResourceExhausted(string message) => new(ErrorKind.ResourceExhausted, message);
}
