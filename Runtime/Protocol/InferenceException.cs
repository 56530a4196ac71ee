namespace Fabrik.Protocol;

/// <summary>The error categories of the KServe v2 protocol, as Triton maps them to HTTP and gRPC
/// status codes.</summary>
internal enum ErrorKind
{
    /// <summary>The request is malformed or disagrees with the model (HTTP 400).</summary>
    InvalidArgument,

    /// <summary>The model or version does not exist (HTTP 404).</summary>
    NotFound,

    /// <summary>The model or server cannot take the request now (HTTP 503).</summary>
    Unavailable,

    /// <summary>The server has no room for the request now: a full queue or an exhausted memory
    /// pool (HTTP 503 with Retry-After; gRPC RESOURCE_EXHAUSTED).</summary>
    ResourceExhausted,

    /// <summary>The run took longer than its deadline and was stopped (HTTP 504; gRPC
    /// DEADLINE_EXCEEDED).</summary>
    DeadlineExceeded,

    /// <summary>The server failed on a valid request (HTTP 500).</summary>
    Internal,

    /// <summary>The request asks for something this server does not implement (HTTP 501).</summary>
    Unsupported,
}

/// <summary>A failure to report to the client, with a message that names the problem.</summary>
internal sealed class InferenceException(ErrorKind kind, string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>The protocol category, which decides the status code.</summary>
    public ErrorKind Kind { get; } = kind;

    public static InferenceException InvalidArgument(string message) => new(ErrorKind.InvalidArgument, message);

    public static InferenceException NotFound(string message) => new(ErrorKind.NotFound, message);

    public static InferenceException Unavailable(string message) => new(ErrorKind.Unavailable, message);

    public static InferenceException ResourceExhausted(string message) => new(ErrorKind.ResourceExhausted, message);

    /// <summary>The HTTP status code Triton uses for <paramref name="kind"/>.</summary>
    public static int HttpStatus(ErrorKind kind) => kind switch
    {
        ErrorKind.InvalidArgument => 400,
        ErrorKind.NotFound => 404,
        ErrorKind.Unavailable or ErrorKind.ResourceExhausted => 503,
        ErrorKind.Unsupported => 501,
        ErrorKind.DeadlineExceeded => 504,
        _ => 500,
    };
}
