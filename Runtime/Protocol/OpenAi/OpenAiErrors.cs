using System.Globalization;
using System.Text.Json;
using Fabrik.Errors;
using Fabrik.Protocol.Http;
using Fabrik.Scheduling;

namespace Fabrik.Protocol.OpenAi;

/// <summary>OpenAI's error body, <c>{"error": {"message", "type", "param", "code"}}</c>, and the
/// statuses the server's own error kinds take in it.</summary>
internal static class OpenAiErrors
{
    private static readonly JsonWriterOptions WriterOptions = new() { Indented = false, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>A server error in OpenAI's terms. Internal errors keep their detail in the server
    /// log (under the request id) and tell the client only that much.</summary>
    public static OpenAiException From(HttpContext context, InferenceException error) => error.Kind switch
    {
        ErrorKind.InvalidArgument => OpenAiException.Invalid(error.Message),
        ErrorKind.NotFound => new OpenAiException(404, OpenAiException.InvalidRequest, error.Message, "model", "model_not_found"),
        ErrorKind.Unavailable => new OpenAiException(503, "server_error", error.Message, null, "service_unavailable"),
        ErrorKind.Overloaded => new OpenAiException(503, "server_error", error.Message, null, "overloaded"),
        ErrorKind.DeadlineExceeded => new OpenAiException(504, "server_error", error.Message, null, "timeout"),
        ErrorKind.Unsupported => new OpenAiException(501, "server_error", error.Message),
        ErrorKind.QuotaExceeded => new OpenAiException(429, "requests", error.Message, null, "rate_limit_exceeded"),
        _ => new OpenAiException(500, "server_error", HttpErrors.ClientMessage(context, error)),
    };

    /// <summary>Writes <paramref name="error"/> with its status (with Retry-After when the server
    /// is overloaded), and the request id in the <c>x-request-id</c> header.</summary>
    public static async Task WriteAsync(HttpContext context, OpenAiException error)
    {
        var response = context.Response;
        if (response.HasStarted)
        {
            context.Abort();
            return;
        }
        response.StatusCode = error.Status;
        if (error.Code == "overloaded")
        {
            response.Headers.RetryAfter = QueueLimits.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
        }
        response.Headers[HttpErrors.RequestIdHeader] = context.TraceIdentifier;
        response.ContentType = "application/json";
        await using (var json = new Utf8JsonWriter(response.BodyWriter, WriterOptions))
        {
            json.WriteStartObject();
            json.WriteStartObject("error"u8);
            json.WriteString("message"u8, error.Message);
            json.WriteString("type"u8, error.Type);
            WriteNullable(json, "param"u8, error.Param);
            WriteNullable(json, "code"u8, error.Code);
            json.WriteEndObject();
            json.WriteEndObject();
        }
        await response.BodyWriter.FlushAsync(context.RequestAborted);
    }

    private static void WriteNullable(Utf8JsonWriter json, ReadOnlySpan<byte> name, string? value)
    {
        if (value is null)
        {
            json.WriteNull(name);
        }
        else
        {
            json.WriteString(name, value);
        }
    }
}
