using System.Globalization;
using Grpc.Core;

namespace Fabrik.Client.Grpc;

/// <summary>Turns a failed gRPC call into a <see cref="FabrikException"/> with the server's
/// status detail, the status code, the request id and the pushback the server asked for.</summary>
internal static class GrpcErrors
{
    private const string RequestIdTrailer = "x-request-id";

    // gRFC A6: how long the server asks the client to wait before retrying, in milliseconds.
    private const string PushbackTrailer = "grpc-retry-pushback-ms";

    public static FabrikErrorKind Kind(StatusCode code) => code switch
    {
        StatusCode.InvalidArgument or StatusCode.FailedPrecondition or StatusCode.OutOfRange or StatusCode.AlreadyExists => FabrikErrorKind.InvalidArgument,
        StatusCode.NotFound => FabrikErrorKind.NotFound,
        StatusCode.Unauthenticated => FabrikErrorKind.Unauthenticated,
        StatusCode.PermissionDenied => FabrikErrorKind.PermissionDenied,
        StatusCode.ResourceExhausted => FabrikErrorKind.ResourceExhausted,
        StatusCode.Unavailable or StatusCode.Aborted => FabrikErrorKind.Unavailable,
        StatusCode.DeadlineExceeded => FabrikErrorKind.DeadlineExceeded,
        StatusCode.Unimplemented => FabrikErrorKind.Unimplemented,
        StatusCode.Cancelled => FabrikErrorKind.Cancelled,
        _ => FabrikErrorKind.Internal,
    };

    public static FabrikException FromRpc(RpcException error, string operation, string? requestId)
    {
        var detail = error.Status.Detail;
        var message = detail.Length > 0 ? detail : error.StatusCode.ToString();
        return new FabrikException(Kind(error.StatusCode), $"{operation} failed with gRPC {error.StatusCode}: {message}", error)
        {
            GrpcStatus = error.StatusCode,
            ServerMessage = detail.Length > 0 ? detail : null,
            RequestId = error.Trailers.GetValue(RequestIdTrailer) ?? requestId,
            RetryAfter = long.TryParse(error.Trailers.GetValue(PushbackTrailer), NumberStyles.None, CultureInfo.InvariantCulture, out var milliseconds)
                ? TimeSpan.FromMilliseconds(milliseconds)
                : null,
            Retryable = error.StatusCode is StatusCode.Unavailable or StatusCode.ResourceExhausted,
        };
    }

    /// <summary>An error a stream reported for one of its requests (the stream itself goes on).</summary>
    public static FabrikException FromStreamMessage(string message, string? requestId) =>
        new(FabrikErrorKind.Unknown, $"a request on the inference stream failed: {message}")
        {
            ServerMessage = message,
            RequestId = requestId,
        };

    /// <summary>An answer that does not add up.</summary>
    public static FabrikException InvalidResponse(string problem) =>
        new(FabrikErrorKind.InvalidResponse, $"the server's answer could not be read: {problem}");
}
