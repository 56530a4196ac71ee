using System.Text.Json;
using Fabrik.Errors;

namespace Fabrik.Protocol.Http;

/// <summary>The HTTP status codes Triton answers for each <see cref="ErrorKind"/>, and the error body.</summary>
internal static partial class HttpErrors
{
    /// <summary>The header that carries the request id on every error (the server log has the detail under it).</summary>
    public const string RequestIdHeader = "x-request-id";

    private static readonly JsonWriterOptions WriterOptions = new() { Indented = false, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static int StatusCode(ErrorKind kind) => kind switch
    {
        ErrorKind.InvalidArgument => 400,
        ErrorKind.NotFound => 404,
        ErrorKind.Unavailable or ErrorKind.Overloaded => 503,
        ErrorKind.Unsupported => 501,
        ErrorKind.DeadlineExceeded => 504,
        ErrorKind.PermissionDenied => 403,
        ErrorKind.QuotaExceeded => 429,
        _ => 500,
    };

    /// <summary>The HTTP status a request ends with, for its trace: Triton's code for an error's
    /// kind, Kestrel's own for a body it refused, 499 (the client closed the request) when the transport broke.</summary>
    public static string TraceStatus(Exception? error) => error switch
    {
        null => "200",
        InferenceException e => StatusCode(e.Kind).ToString(System.Globalization.CultureInfo.InvariantCulture),
        BadHttpRequestException e => e.StatusCode.ToString(System.Globalization.CultureInfo.InvariantCulture),
        OperationCanceledException or IOException => "499",
        _ => "500",
    };

    /// <summary>What the client is told: the message, or for an internal error (a backend's or
    /// native library's own words) a plain sentence; the detail goes to the server log under the request id.</summary>
    public static string ClientMessage(HttpContext context, InferenceException error)
    {
        if (error.Kind != ErrorKind.Internal)
        {
            return error.Message;
        }
        Log.InternalError(context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Fabrik.Protocol.Http"), context.TraceIdentifier, error.Message);
        return $"internal error while running the request; the server log has the detail under request id {context.TraceIdentifier}";
    }

    /// <summary>Writes Triton's <c>{"error": "..."}</c> with the request id beside it and in the
    /// <c>x-request-id</c> header. The status code is set by the caller.</summary>
    public static async Task WriteAsync(HttpContext context, string message)
    {
        context.Response.Headers[RequestIdHeader] = context.TraceIdentifier;
        context.Response.ContentType = "application/json";
        await using (var json = new Utf8JsonWriter(context.Response.BodyWriter, WriterOptions))
        {
            json.WriteStartObject();
            json.WriteString("error"u8, message);
            json.WriteString("request_id"u8, context.TraceIdentifier);
            json.WriteEndObject();
        }
        await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1231, Level = LogLevel.Error, Message = "Request {RequestId}: {Detail}")]
        public static partial void InternalError(ILogger logger, string requestId, string detail);
    }
}
