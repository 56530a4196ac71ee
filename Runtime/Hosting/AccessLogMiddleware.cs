using System.Diagnostics;

namespace Fabrik.Hosting;

/// <summary>
/// --log-access: one line per HTTP or gRPC request, after its response: request id, method,
/// route, model, status, bytes in and out, and latency. Never tensor contents or headers other
/// than the request id.
/// </summary>
internal sealed partial class AccessLogMiddleware(RequestDelegate next, ILoggerFactory loggers)
{
    private const int MaximumRequestIdLength = 128;
    private readonly ILogger _logger = loggers.CreateLogger("Fabrik.Access");

    public async Task InvokeAsync(HttpContext context)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            await next(context);
        }
        finally
        {
            var request = context.Request;
            var model = context.GetRouteValue("model") as string ?? "-";
            Log.Access(_logger, RequestId(context), request.Method, request.Path.Value ?? "/", Clean(model), context.Response.StatusCode,
                request.ContentLength ?? 0, context.Response.ContentLength?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-",
                Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
    }

    /// <summary>The client's X-Request-ID when it sent one (printable, bounded), else the server's.</summary>
    private static string RequestId(HttpContext context) =>
        context.Request.Headers["X-Request-ID"].ToString() is { Length: > 0 } id ? Clean(id) : context.TraceIdentifier;

    /// <summary>Keeps client-supplied text on one line and bounded.</summary>
    private static string Clean(string text)
    {
        if (text.Length > MaximumRequestIdLength)
        {
            text = text[..MaximumRequestIdLength];
        }
        return text.Any(char.IsControl) ? new string(text.Select(c => char.IsControl(c) ? '?' : c).ToArray()) : text;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 50, Level = LogLevel.Information,
            Message = "{RequestId} {Method} {Route} model={Model} status={Status} bytes_in={BytesIn} bytes_out={BytesOut} latency_ms={LatencyMs:F3}")]
        public static partial void Access(ILogger logger, string requestId, string method, string route, string model, int status,
            long bytesIn, string bytesOut, double latencyMs);
    }
}
