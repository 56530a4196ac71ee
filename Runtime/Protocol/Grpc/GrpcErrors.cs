using Fabrik.Errors;
using Grpc.Core;

namespace Fabrik.Protocol.Grpc;

/// <summary>The gRPC status codes Triton answers for each <see cref="ErrorKind"/>.</summary>
internal static class GrpcErrors
{
    public static StatusCode StatusCode(ErrorKind kind) => kind switch
    {
        ErrorKind.InvalidArgument => global::Grpc.Core.StatusCode.InvalidArgument,
        ErrorKind.NotFound => global::Grpc.Core.StatusCode.NotFound,
        ErrorKind.Unavailable => global::Grpc.Core.StatusCode.Unavailable,
        ErrorKind.ResourceExhausted => global::Grpc.Core.StatusCode.ResourceExhausted,
        ErrorKind.Unsupported => global::Grpc.Core.StatusCode.Unimplemented,
        ErrorKind.DeadlineExceeded => global::Grpc.Core.StatusCode.DeadlineExceeded,
        _ => global::Grpc.Core.StatusCode.Internal,
    };

    /// <summary>The exception that ends a call with <paramref name="error"/>'s status and message.</summary>
    public static RpcException ToRpcException(InferenceException error) => new(new Status(StatusCode(error.Kind), error.Message));
}
