using Fabrik.Errors;

namespace Fabrik.Protocol.Http;

/// <summary>The HTTP status codes Triton answers for each <see cref="ErrorKind"/>.</summary>
internal static class HttpErrors
{
    public static int StatusCode(ErrorKind kind) => kind switch
    {
        ErrorKind.InvalidArgument => 400,
        ErrorKind.NotFound => 404,
        ErrorKind.Unavailable or ErrorKind.ResourceExhausted => 503,
        ErrorKind.Unsupported => 501,
        ErrorKind.DeadlineExceeded => 504,
        _ => 500,
    };
}
