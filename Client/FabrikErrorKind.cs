namespace Fabrik.Client;

/// <summary>What kind of failure a <see cref="FabrikException"/> reports, the same for both
/// transports: an HTTP status and a gRPC status of the same meaning map to one kind.</summary>
public enum FabrikErrorKind
{
    /// <summary>The server refused the request as malformed or invalid for the model (HTTP 400,
    /// 413 and other 4xx not named below; gRPC INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE).</summary>
    InvalidArgument,

    /// <summary>No such model, version or endpoint (HTTP 404, gRPC NOT_FOUND).</summary>
    NotFound,

    /// <summary>No credentials, or an API key the server does not know (HTTP 401, gRPC UNAUTHENTICATED).</summary>
    Unauthenticated,

    /// <summary>The credentials do not grant this call (HTTP 403, gRPC PERMISSION_DENIED).</summary>
    PermissionDenied,

    /// <summary>The server is busy: a full queue or memory pool, or too many failed
    /// authentications (HTTP 429, gRPC RESOURCE_EXHAUSTED). Worth retrying later.</summary>
    ResourceExhausted,

    /// <summary>The server or model cannot serve now, or could not be reached (HTTP 503, gRPC
    /// UNAVAILABLE or ABORTED, a refused connection). Worth retrying.</summary>
    Unavailable,

    /// <summary>No answer in time: the server's run deadline or the client's timeout (HTTP 504 or
    /// 408, gRPC DEADLINE_EXCEEDED).</summary>
    DeadlineExceeded,

    /// <summary>The server does not implement the call (HTTP 501, gRPC UNIMPLEMENTED).</summary>
    Unimplemented,

    /// <summary>The server ended the call without an answer (HTTP 499, gRPC CANCELLED) while the caller had not cancelled.</summary>
    Cancelled,

    /// <summary>The server failed (HTTP 500 and other 5xx, gRPC INTERNAL, UNKNOWN, DATA_LOSS).</summary>
    Internal,

    /// <summary>The server reported a failure without saying of which kind: an error message on
    /// the gRPC inference stream, which carries text but no status code.</summary>
    Unknown,

    /// <summary>The server answered, but the answer does not parse or contradicts itself; the message says what was wrong.</summary>
    InvalidResponse,
}
