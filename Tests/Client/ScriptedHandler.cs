using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using Google.Protobuf;

namespace Fabrik.Tests.Client;

/// <summary>
/// A stand-in server: answers each request with what the test scripts for it (by the number of
/// the request, from 0) and records what came, with the time on the given clock. It also builds
/// gRPC answers by hand (length-prefixed message, grpc-status in the trailers), so a test can
/// send the client what no real server sends.
/// </summary>
public sealed class ScriptedHandler(Func<HttpRequestMessage, int, HttpResponseMessage> answer, TimeProvider? time = null) : HttpMessageHandler
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private int _count;

    /// <summary>Each request as it came: method, path, headers, and when.</summary>
    public ConcurrentQueue<(HttpMethod Method, string Path, HttpRequestHeaders Headers, DateTimeOffset At)> Requests { get; } = new();

    public int Count => Volatile.Read(ref _count);

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request.Content is not null)
        {
            await request.Content.LoadIntoBufferAsync(cancellationToken);
        }
        Requests.Enqueue((request.Method, request.RequestUri!.AbsolutePath, request.Headers, _time.GetUtcNow()));
        var index = Interlocked.Increment(ref _count) - 1;
        var response = answer(request, index);
        response.RequestMessage = request;
        return response;
    }

    /// <summary>A JSON answer with <paramref name="status"/>.</summary>
    public static HttpResponseMessage Json(string body, HttpStatusCode status = HttpStatusCode.OK) =>
        new(status) { Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json") };

    /// <summary>A binary-extension answer: the JSON header, then <paramref name="binary"/>.</summary>
    public static HttpResponseMessage Binary(string header, byte[] binary, long? declaredHeaderLength = null)
    {
        var json = System.Text.Encoding.UTF8.GetBytes(header);
        var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent([.. json, .. binary]) };
        response.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        response.Headers.TryAddWithoutValidation("Inference-Header-Content-Length", (declaredHeaderLength ?? json.Length).ToString(System.Globalization.CultureInfo.InvariantCulture));
        return response;
    }

    /// <summary>A gRPC answer holding <paramref name="message"/> (status OK), or only the status when it is null.</summary>
    public static HttpResponseMessage Grpc(IMessage? message, global::Grpc.Core.StatusCode status = global::Grpc.Core.StatusCode.OK, string detail = "", params (string Key, string Value)[] trailers)
    {
        byte[] body = [];
        if (message is not null)
        {
            body = new byte[5 + message.CalculateSize()];
            BinaryPrimitives.WriteUInt32BigEndian(body.AsSpan(1), (uint)(body.Length - 5));
            message.WriteTo(body.AsSpan(5));
        }
        var response = new HttpResponseMessage(HttpStatusCode.OK) { Version = HttpVersion.Version20, Content = new ByteArrayContent(body) };
        response.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        response.TrailingHeaders.TryAddWithoutValidation("grpc-status", ((int)status).ToString(System.Globalization.CultureInfo.InvariantCulture));
        if (detail.Length > 0)
        {
            response.TrailingHeaders.TryAddWithoutValidation("grpc-message", detail);
        }
        foreach (var (key, value) in trailers)
        {
            response.TrailingHeaders.TryAddWithoutValidation(key, value);
        }
        return response;
    }
}
