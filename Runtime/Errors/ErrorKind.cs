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

    /// <summary>The server has no room for the request now, and a retry shortly may find some: a
    /// full queue or an exhausted tensor pool (HTTP 503 with Retry-After, gRPC UNAVAILABLE, which
    /// is Triton's answer to a full queue and what its clients retry on).</summary>
    Overloaded,

    /// <summary>The run took longer than its deadline and was stopped (HTTP 504, gRPC
    /// DEADLINE_EXCEEDED).</summary>
    DeadlineExceeded,

    /// <summary>The server failed on a valid request (HTTP 500, INTERNAL).</summary>
    Internal,

    /// <summary>The request asks for something this server does not implement (HTTP 501, UNIMPLEMENTED).</summary>
    Unsupported,

    /// <summary>The caller's tenant is over one of its quotas (request rate, requests in flight,
    /// compute budget): HTTP 429 with Retry-After, gRPC RESOURCE_EXHAUSTED.</summary>
    QuotaExceeded,

    /// <summary>The server is configured to refuse this request: a feature turned off by a flag,
    /// or allowed only to local clients (HTTP 403, gRPC PERMISSION_DENIED).</summary>
    PermissionDenied,
}
