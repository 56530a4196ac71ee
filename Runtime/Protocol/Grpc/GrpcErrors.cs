using Fabrik.Errors;
using Grpc.Core;

namespace Fabrik.Protocol.Grpc;

/// <summary>The gRPC status codes Triton answers for each <see cref="ErrorKind"/>.</summary>
internal static partial class GrpcErrors
{
    public static StatusCode StatusCode(ErrorKind kind) => kind switch
    {
        ErrorKind.InvalidArgument => global::Grpc.Core.StatusCode.InvalidArgument,
        ErrorKind.NotFound => global::Grpc.Core.StatusCode.NotFound,
        // A full queue is UNAVAILABLE in Triton, and its clients retry on it. RESOURCE_EXHAUSTED
        // stays for what a retry does not cure soon: a message over the size limit, and a client
        // over the failed-key limit (GrpcAccessInterceptor).
        ErrorKind.Unavailable or ErrorKind.Overloaded => global::Grpc.Core.StatusCode.Unavailable,
        ErrorKind.Unsupported => global::Grpc.Core.StatusCode.Unimplemented,
        ErrorKind.DeadlineExceeded => global::Grpc.Core.StatusCode.DeadlineExceeded,
        ErrorKind.PermissionDenied => global::Grpc.Core.StatusCode.PermissionDenied,
        ErrorKind.QuotaExceeded => global::Grpc.Core.StatusCode.ResourceExhausted,
        _ => global::Grpc.Core.StatusCode.Internal,
    };

    /// <summary>The exception that ends a call with <paramref name="error"/>'s status and message;
    /// an internal error's detail goes to the server log under an id the client is given.</summary>
    public static RpcException ToRpcException(InferenceException error, ServerCallContext? context = null) =>
        new(new Status(StatusCode(error.Kind), ClientMessage(error, context)));

    /// <summary>What the client is told: the message, or for an internal error (a backend's or
    /// native library's own words) a plain sentence and the id the server log has the detail under.</summary>
    public static string ClientMessage(InferenceException error, ServerCallContext? context)
    {
        if (error.Kind != ErrorKind.Internal)
        {
            return error.Message;
        }
        var http = context?.GetHttpContext();
        var requestId = http?.TraceIdentifier ?? Guid.NewGuid().ToString("N");
        if (http?.RequestServices.GetService<ILoggerFactory>() is { } loggers)
        {
            Log.InternalError(loggers.CreateLogger("Fabrik.Protocol.Grpc"), requestId, error.Message);
        }
        return $"internal error while running the request; the server log has the detail under request id {requestId}";
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1230, Level = LogLevel.Error, Message = "Request {RequestId}: {Detail}")]
        public static partial void InternalError(ILogger logger, string requestId, string detail);
    }
}
