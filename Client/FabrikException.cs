namespace Fabrik.Client;

/// <summary>
/// A call the server refused or failed, or whose answer could not be read. It carries the
/// server's own message, the HTTP or gRPC status it came with, and the request id the server's
/// log knows it by, where the server gave one (or the id the request was sent with).
/// </summary>
public class FabrikException : Exception
{
    /// <summary>Creates an exception; the message is <paramref name="message"/> as given.</summary>
    public FabrikException(FabrikErrorKind kind, string message, Exception? innerException = null)
        : base(message, innerException) => Kind = kind;

    /// <summary>What kind of failure this is.</summary>
    public FabrikErrorKind Kind { get; }

    /// <summary>The HTTP status code of the answer, when the call went over HTTP and got one.</summary>
    public int? HttpStatus { get; init; }

    /// <summary>The gRPC status code of the call, when it went over gRPC.</summary>
    public global::Grpc.Core.StatusCode? GrpcStatus { get; init; }

    /// <summary>The server's own words (its <c>error</c> field or the gRPC status detail), when it sent any.</summary>
    public string? ServerMessage { get; init; }

    /// <summary>The id the server's log has this request under (HTTP <c>x-request-id</c>, or the
    /// body's <c>request_id</c>), or else the id the inference request was sent with.</summary>
    public string? RequestId { get; init; }

    /// <summary>How long the server asked the client to wait before trying again (HTTP
    /// Retry-After, gRPC <c>grpc-retry-pushback-ms</c>), when it said.</summary>
    public TimeSpan? RetryAfter { get; init; }

    /// <summary>Whether trying again later may succeed: the server was busy or unreachable.</summary>
    public bool IsTransient => Kind is FabrikErrorKind.Unavailable or FabrikErrorKind.ResourceExhausted;

    /// <summary>Whether a <see cref="RetryPolicy"/> may send the call again: the server was busy
    /// or never reached, so it cannot have run the request.</summary>
    internal bool Retryable { get; init; }
}
