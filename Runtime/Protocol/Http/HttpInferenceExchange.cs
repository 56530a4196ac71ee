using System.Buffers;
using System.Globalization;
using System.Runtime.CompilerServices;
using Fabrik.Inference;
using Fabrik.Errors;
using Fabrik.Models;
using Fabrik.Protocol.SharedMemory;
using Fabrik.Tenancy;
using Fabrik.Tensors;

namespace Fabrik.Protocol.Http;

/// <summary>
/// The HTTP side of one inference (<see cref="InferencePipeline"/>): the body is JSON, or JSON
/// then binary tensors (the binary tensor extension, announced by Inference-Header-Content-Length);
/// the response answers in the same form.
/// </summary>
internal readonly struct HttpInferenceExchange(HttpContext context, TensorMemoryPool pool, SharedMemoryRegistry sharedMemory, Tenant? tenant = null)
    : IInferenceExchange<bool>
{
    public const string InferenceHeaderContentLengthName = "Inference-Header-Content-Length";

    public string Protocol => "HTTP";

    public string? TraceParent => context.Request.Headers.TraceParent;

    public string? TraceState => context.Request.Headers.TraceState;

    public Tenant? Tenant => tenant;

    /// <summary>The body's Content-Length (a chunked body without one counts 0).</summary>
    public long RequestBytes => context.Request.ContentLength ?? 0;

    /// <summary>The response body written so far (Encode does not flush, so all of it).</summary>
    public long ResponseBytes(bool result) =>
        context.Response.BodyWriter.CanGetUnflushedBytes ? context.Response.BodyWriter.UnflushedBytes : context.Response.ContentLength ?? 0;

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<InferenceRequest> DecodeAsync(LoadedModel model, CancellationToken cancellation)
    {
        var jsonLength = InferenceHeaderContentLength(context.Request);
        using var body = await RequestBody.ReadAsync(context.Request, pool, cancellation);
        return jsonLength == 0
            ? RawInferenceRequestReader.Read(body.Buffer, model, pool, cancellation, tenant)
            : JsonInferenceRequestReader.Read(body.Buffer, jsonLength, model, pool, cancellation, Client, tenant);
    }

    public bool Encode(LoadedModel model, InferenceRequest request, InferenceResponse response)
    {
        // The writers copy the outputs into the response body, so the response is given back here.
        using (response)
        {
            JsonInferenceResponseWriter.Validate(model, request, response);
            SharedMemoryTensors.WriteOutputs(Client, model, request, response);
            if (request.BinaryOutputs is null)
            {
                context.Response.StatusCode = 200;
                context.Response.ContentType = "application/json";
                JsonInferenceResponseWriter.Write(context.Response.BodyWriter, model, request, response);
            }
            else
            {
                WriteBinaryResponse(context.Response, model, request, response);
            }
            // No flush here: Kestrel sends the buffered response in one write when the request
            // ends (headers, body and, for JSON, the closing chunk), where a flush now would send
            // the closing chunk in a second write and wake the client twice per response.
            return true;
        }
    }

    private SharedMemoryClient Client => new(sharedMemory, context.Connection.RemoteIpAddress);

    public string TraceStatus(Exception? error) => HttpErrors.TraceStatus(error);

    /// <summary>Binary tensor extension: the JSON header (its length in
    /// Inference-Header-Content-Length), then each binary output's bytes in response order.</summary>
    private static void WriteBinaryResponse(HttpResponse http, LoadedModel model, InferenceRequest request, InferenceResponse response)
    {
        using var header = new PooledBufferWriter();
        var binaryLength = JsonInferenceResponseWriter.Write(header, model, request, response);
        http.StatusCode = 200;
        http.ContentType = "application/octet-stream";
        http.Headers[InferenceHeaderContentLengthName] = header.WrittenCount.ToString(CultureInfo.InvariantCulture);
        http.ContentLength = header.WrittenCount + binaryLength;
        var body = http.BodyWriter;
        body.Write(header.WrittenSpan);
        foreach (var index in JsonInferenceResponseWriter.OutputOrder(request, response))
        {
            if (request.BinaryOutputs![index])
            {
                body.Write(response.Outputs[index].Bytes);
            }
        }
    }

    /// <summary>The binary extension's header: null when absent (a plain JSON request).</summary>
    private static long? InferenceHeaderContentLength(HttpRequest request)
    {
        if (!request.Headers.TryGetValue(InferenceHeaderContentLengthName, out var values))
        {
            return null;
        }
        return long.TryParse(values.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var length)
            ? length
            : throw InferenceException.InvalidArgument($"{InferenceHeaderContentLengthName} must be a non-negative integer, got '{values}'");
    }
}
