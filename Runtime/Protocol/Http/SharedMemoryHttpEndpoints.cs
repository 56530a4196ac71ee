using System.Buffers;
using System.Text.Json;
using Fabrik.Errors;
using Fabrik.Protocol.SharedMemory;
using Fabrik.Tensors;

namespace Fabrik.Protocol.Http;

/// <summary>
/// Triton's shared-memory extensions over HTTP: <c>/v2/systemsharedmemory</c> and
/// <c>/v2/cudasharedmemory</c>, each with <c>[/region/{r}]/status</c>, <c>/region/{r}/register</c>
/// and <c>[/region/{r}]/unregister</c>. The rules (the flag, loopback clients, keys, limits, the
/// audit) are the registry's; this reads the bodies and writes Triton's JSON.
/// </summary>
internal sealed class SharedMemoryHttpEndpoints(SharedMemoryRegistry registry, TensorMemoryPool pool)
{
    private static readonly JsonWriterOptions WriterOptions = new() { Indented = false, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Adds the routes to <paramref name="routes"/>.</summary>
    public void Map(IEndpointRouteBuilder routes)
    {
        routes.MapGet("/v2/systemsharedmemory/status", SystemStatusAsync);
        routes.MapGet("/v2/systemsharedmemory/region/{region}/status", SystemStatusAsync);
        routes.MapPost("/v2/systemsharedmemory/region/{region}/register", SystemRegisterAsync);
        routes.MapPost("/v2/systemsharedmemory/unregister", SystemUnregisterAsync);
        routes.MapPost("/v2/systemsharedmemory/region/{region}/unregister", SystemUnregisterAsync);
        routes.MapGet("/v2/cudasharedmemory/status", CudaStatusAsync);
        routes.MapGet("/v2/cudasharedmemory/region/{region}/status", CudaStatusAsync);
        routes.MapPost("/v2/cudasharedmemory/region/{region}/register", CudaRegisterAsync);
        routes.MapPost("/v2/cudasharedmemory/unregister", CudaUnregisterAsync);
        routes.MapPost("/v2/cudasharedmemory/region/{region}/unregister", CudaUnregisterAsync);
    }

    private Task SystemStatusAsync(HttpContext context) => AnswerJsonAsync(context, () =>
    {
        var regions = registry.Status(Region(context), context.Connection.RemoteIpAddress);
        return json =>
        {
            json.WriteStartArray();
            foreach (var region in regions)
            {
                json.WriteStartObject();
                json.WriteString("name"u8, region.Name);
                json.WriteString("key"u8, region.Key);
                json.WriteNumber("offset"u8, region.Offset);
                json.WriteNumber("byte_size"u8, region.ByteSize);
                json.WriteEndObject();
            }
            json.WriteEndArray();
        };
    });

    private async Task SystemRegisterAsync(HttpContext context)
    {
        await AnswerAsync(context, async () =>
        {
            using var body = await ReadBodyAsync(context);
            var root = body.RootElement;
            var key = root.TryGetProperty("key"u8, out var keyValue) && keyValue.ValueKind == JsonValueKind.String
                ? keyValue.GetString()!
                : throw InferenceException.InvalidArgument("the register request needs a 'key' string");
            registry.Register(Region(context), key, Unsigned(root, "offset", required: false), Unsigned(root, "byte_size", required: true),
                context.Connection.RemoteIpAddress, Caller(context));
        });
    }

    private Task SystemUnregisterAsync(HttpContext context) => AnswerAsync(context, () =>
    {
        registry.Unregister(Region(context), context.Connection.RemoteIpAddress, Caller(context));
        return Task.CompletedTask;
    });

    private Task CudaStatusAsync(HttpContext context) => AnswerJsonAsync(context, () =>
    {
        var regions = registry.CudaStatus(Region(context), context.Connection.RemoteIpAddress);
        return json =>
        {
            json.WriteStartArray();
            foreach (var region in regions)
            {
                json.WriteStartObject();
                json.WriteString("name"u8, region.Name);
                json.WriteNumber("device_id"u8, region.DeviceId);
                json.WriteNumber("byte_size"u8, region.ByteSize);
                json.WriteEndObject();
            }
            json.WriteEndArray();
        };
    });

    private async Task CudaRegisterAsync(HttpContext context)
    {
        await AnswerAsync(context, async () =>
        {
            using var body = await ReadBodyAsync(context);
            var root = body.RootElement;
            var handle = root.TryGetProperty("raw_handle"u8, out var raw) && raw.ValueKind == JsonValueKind.Object
                && raw.TryGetProperty("b64"u8, out var b64) && b64.ValueKind == JsonValueKind.String && b64.TryGetBytesFromBase64(out var bytes)
                ? bytes
                : throw InferenceException.InvalidArgument("the register request needs 'raw_handle': {\"b64\": <base64 CUDA IPC handle>}");
            var device = root.TryGetProperty("device_id"u8, out var id) && id.ValueKind == JsonValueKind.Number && id.TryGetInt64(out var number)
                ? number
                : throw InferenceException.InvalidArgument("the register request needs a 'device_id' integer");
            try
            {
                registry.RegisterCuda(Region(context), handle, device, Unsigned(root, "byte_size", required: true), context.Connection.RemoteIpAddress, Caller(context));
            }
            catch (InferenceException e) when (e.Kind == ErrorKind.Unavailable)
            {
                // No CUDA device: a request this server can never serve, so a 4xx rather than a 503 to retry.
                throw InferenceException.InvalidArgument(e.Message);
            }
        });
    }

    private Task CudaUnregisterAsync(HttpContext context) => AnswerAsync(context, () =>
    {
        registry.UnregisterCuda(Region(context), context.Connection.RemoteIpAddress, Caller(context));
        return Task.CompletedTask;
    });

    /// <summary>Runs a call that answers 200 with no body; a refusal becomes Triton's error body.</summary>
    private static async Task AnswerAsync(HttpContext context, Func<Task> call)
    {
        try
        {
            await call();
            context.Response.StatusCode = 200;
        }
        catch (InferenceException e)
        {
            await WriteErrorAsync(context, e);
        }
    }

    /// <summary>Runs a call that answers 200 with JSON.</summary>
    private static async Task AnswerJsonAsync(HttpContext context, Func<Action<Utf8JsonWriter>> call)
    {
        Action<Utf8JsonWriter> write;
        try
        {
            write = call();
        }
        catch (InferenceException e)
        {
            await WriteErrorAsync(context, e);
            return;
        }
        context.Response.ContentType = "application/json";
        await using (var json = new Utf8JsonWriter(context.Response.BodyWriter, WriterOptions))
        {
            write(json);
        }
        await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
    }

    private static Task WriteErrorAsync(HttpContext context, InferenceException error)
    {
        context.Response.StatusCode = HttpErrors.StatusCode(error.Kind);
        return HttpErrors.WriteAsync(context, HttpErrors.ClientMessage(context, error));
    }

    private async Task<JsonDocument> ReadBodyAsync(HttpContext context)
    {
        // The extension's checks come before the body is even read.
        registry.CheckRegistration(Region(context), context.Connection.RemoteIpAddress, Caller(context));
        using var body = await RequestBody.ReadAsync(context.Request, pool, context.RequestAborted);
        try
        {
            // A copy: the document reads its input in place, and the body goes back to the pool here.
            var document = JsonDocument.Parse(body.Buffer.ToArray());
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                document.Dispose();
                throw InferenceException.InvalidArgument("the request body must be a JSON object");
            }
            return document;
        }
        catch (JsonException e)
        {
            throw InferenceException.InvalidArgument(JsonSyntaxError.Describe(body.Buffer, e));
        }
    }

    private static ulong Unsigned(JsonElement root, string name, bool required)
    {
        if (!root.TryGetProperty(name, out var value))
        {
            return required ? throw InferenceException.InvalidArgument($"the register request needs '{name}'") : 0UL;
        }
        return value.ValueKind == JsonValueKind.Number && value.TryGetUInt64(out var number)
            ? number
            : throw InferenceException.InvalidArgument($"'{name}' must be an integer from 0 to {ulong.MaxValue}");
    }

    private static string Region(HttpContext context) => context.Request.RouteValues["region"] as string ?? "";

    private static string? Caller(HttpContext context) => context.Items[SharedMemoryRegistry.CallerItem] as string;
}
