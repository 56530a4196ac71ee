using System.Text;
using System.Text.Json;

namespace Fabrik.Client.Http;

/// <summary>Turns HTTP answers that are not successes, and failures to reach the server, into
/// <see cref="FabrikException"/>s carrying the server's message, status and request id.</summary>
internal static class HttpErrors
{
    public const string RequestIdHeader = "x-request-id";

    // An error body is a short JSON object; more than this is not read.
    private const int MaximumErrorBody = 64 * 1024;

    public static FabrikErrorKind Kind(int status) => status switch
    {
        400 or 409 or 411 or 412 or 413 or 414 or 415 or 422 or 431 => FabrikErrorKind.InvalidArgument,
        401 => FabrikErrorKind.Unauthenticated,
        403 => FabrikErrorKind.PermissionDenied,
        404 or 405 or 410 => FabrikErrorKind.NotFound,
        408 or 504 => FabrikErrorKind.DeadlineExceeded,
        429 => FabrikErrorKind.ResourceExhausted,
        499 => FabrikErrorKind.Cancelled,
        501 => FabrikErrorKind.Unimplemented,
        502 or 503 => FabrikErrorKind.Unavailable,
        < 500 => FabrikErrorKind.InvalidArgument,
        _ => FabrikErrorKind.Internal,
    };

    /// <summary>The exception for a response that is not a success: the server's <c>error</c>
    /// text (or the body itself when it is short plain text), the status, the request id and
    /// Retry-After. Reads at most 64 KiB of the body.</summary>
    public static async Task<FabrikException> FromResponseAsync(HttpResponseMessage response, string operation, string? requestId, CancellationToken cancellation)
    {
        var status = (int)response.StatusCode;
        var body = await ReadBoundedAsync(response.Content, cancellation);
        string? serverMessage = null;
        string? bodyRequestId = null;
        try
        {
            using var document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind == JsonValueKind.Object)
            {
                if (document.RootElement.TryGetProperty("error", out var error))
                {
                    serverMessage = error.ValueKind == JsonValueKind.String ? error.GetString()
                        : error.ValueKind == JsonValueKind.Object && error.TryGetProperty("message", out var nested) && nested.ValueKind == JsonValueKind.String ? nested.GetString()
                        : error.GetRawText();
                }
                if (document.RootElement.TryGetProperty("request_id", out var id) && id.ValueKind == JsonValueKind.String)
                {
                    bodyRequestId = id.GetString();
                }
            }
        }
        catch (JsonException)
        {
            var text = Encoding.UTF8.GetString(body).Trim();
            serverMessage = text.Length is > 0 and <= 512 && !text.Contains('<', StringComparison.Ordinal) ? text : null;
        }
        var headerRequestId = response.Headers.TryGetValues(RequestIdHeader, out var ids) ? ids.FirstOrDefault() : null;
        var described = serverMessage ?? $"{status} {response.ReasonPhrase}".TrimEnd();
        var kind = Kind(status);
        return new FabrikException(kind, $"{operation} failed with HTTP {status}: {described}")
        {
            HttpStatus = status,
            ServerMessage = serverMessage,
            RequestId = headerRequestId ?? bodyRequestId ?? requestId,
            RetryAfter = RetryAfter(response),
            Retryable = status is 429 or 503,
        };
    }

    /// <summary>The server could not be reached, or the exchange broke. Only a connection that
    /// was never opened is safe to retry: otherwise the server may have run the request.</summary>
    public static FabrikException Unreachable(HttpRequestException error, Uri address, string operation)
    {
        var neverSent = error.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError;
        return new FabrikException(FabrikErrorKind.Unavailable, $"{operation}: could not complete the exchange with {address}: {error.Message}", error)
        {
            HttpStatus = error.StatusCode is { } status ? (int)status : null,
            Retryable = neverSent,
        };
    }

    /// <summary>An answer that does not parse or contradicts itself.</summary>
    public static FabrikException InvalidResponse(string problem, Exception? inner = null) =>
        new(FabrikErrorKind.InvalidResponse, $"the server's answer could not be read: {problem}", inner);

    private static TimeSpan? RetryAfter(HttpResponseMessage response)
    {
        var header = response.Headers.RetryAfter;
        if (header?.Delta is { } delta)
        {
            return delta >= TimeSpan.Zero ? delta : TimeSpan.Zero;
        }
        if (header?.Date is { } date)
        {
            var wait = date - (response.Headers.Date ?? DateTimeOffset.UtcNow);
            return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
        }
        return null;
    }

    private static async Task<byte[]> ReadBoundedAsync(HttpContent content, CancellationToken cancellation)
    {
        await using var stream = await content.ReadAsStreamAsync(cancellation);
        var buffer = new byte[MaximumErrorBody];
        var length = 0;
        int read;
        while (length < buffer.Length && (read = await stream.ReadAsync(buffer.AsMemory(length), cancellation)) > 0)
        {
            length += read;
        }
        return buffer.AsSpan(0, length).ToArray();
    }
}
