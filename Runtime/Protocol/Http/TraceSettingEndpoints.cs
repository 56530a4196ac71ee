using System.Buffers;
using System.Text.Json;
using Fabrik.Errors;
using Fabrik.Models;
using Fabrik.Observability.Tracing;
using Fabrik.Protocol.Triton;

namespace Fabrik.Protocol.Http;

/// <summary>
/// Triton's trace extension over HTTP: <c>GET/POST /v2/trace/setting</c> and
/// <c>/v2/models/{model}/trace/setting</c>. The JSON body is read into the gRPC request message and
/// answered by <see cref="TraceSettingExchange"/>, so both protocols change and refuse the same
/// things: only trace_level and trace_rate change at run time, a JSON null clears a setting, and a
/// body naming trace_file or any other setting is refused, so no file path or URL is ever settable
/// over the network.
/// </summary>
internal static class TraceSettingEndpoints
{
    public static void Map(IEndpointRouteBuilder routes, InferenceTracing tracing, ModelManager models)
    {
        routes.MapGet("/v2/trace/setting", context => AnswerAsync(context, tracing, models, new TraceSettingRequest()));
        routes.MapPost("/v2/trace/setting", async context => await AnswerAsync(context, tracing, models, await ReadAsync(context, "")));
        routes.MapGet("/v2/models/{model}/trace/setting", context =>
            AnswerAsync(context, tracing, models, new TraceSettingRequest { ModelName = (string)context.GetRouteValue("model")! }));
        routes.MapPost("/v2/models/{model}/trace/setting", async context =>
            await AnswerAsync(context, tracing, models, await ReadAsync(context, (string)context.GetRouteValue("model")!)));
    }

    private static async Task AnswerAsync(HttpContext context, InferenceTracing tracing, ModelManager models, TraceSettingRequest? request)
    {
        if (request is null)
        {
            return; // the body was refused and the answer written
        }
        TraceSettingResponse response;
        try
        {
            response = TraceSettingExchange.Answer(tracing, models, request);
        }
        catch (InferenceException e)
        {
            context.Response.StatusCode = HttpErrors.StatusCode(e.Kind);
            await HttpErrors.WriteAsync(context, HttpErrors.ClientMessage(context, e));
            return;
        }
        context.Response.ContentType = "application/json";
        await using (var json = new Utf8JsonWriter(context.Response.BodyWriter))
        {
            WriteSettings(json, response);
        }
        await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
    }

    private static void WriteSettings(Utf8JsonWriter json, TraceSettingResponse response)
    {
        json.WriteStartObject();
        foreach (var (name, value) in response.Settings.OrderBy(setting => setting.Key, StringComparer.Ordinal))
        {
            // Triton writes trace_level as a list of levels and every other setting as one string.
            if (name == TraceSettingNames.Level)
            {
                json.WriteStartArray(name);
                foreach (var level in value.Value)
                {
                    json.WriteStringValue(level);
                }
                json.WriteEndArray();
            }
            else
            {
                json.WriteString(name, value.Value.FirstOrDefault() ?? "");
            }
        }
        json.WriteEndObject();
    }

    /// <summary>The body as the gRPC request message: a string or number is one value, an array its
    /// values, null none (which clears the setting). Null, with a 400 written, when the body is not
    /// a JSON object of such values.</summary>
    private static async Task<TraceSettingRequest?> ReadAsync(HttpContext context, string model)
    {
        var request = new TraceSettingRequest { ModelName = model };
        string? error = null;
        var body = ReadOnlySequence<byte>.Empty;
        try
        {
            // Read whole first (a settings body is small): an error names its byte offset in it.
            var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer, context.RequestAborted);
            body = new ReadOnlySequence<byte>(buffer.GetBuffer(), 0, (int)buffer.Length);
            using var document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                error = "the trace settings must be a JSON object";
            }
            else
            {
                foreach (var property in document.RootElement.EnumerateObject())
                {
                    var value = new TraceSettingRequest.Types.SettingValue();
                    switch (property.Value.ValueKind)
                    {
                        case JsonValueKind.Null:
                            break;
                        case JsonValueKind.Array:
                            foreach (var item in property.Value.EnumerateArray())
                            {
                                value.Value.Add(Text(property.Name, item));
                            }
                            break;
                        default:
                            value.Value.Add(Text(property.Name, property.Value));
                            break;
                    }
                    request.Settings[property.Name] = value;
                }
            }
        }
        catch (JsonException e)
        {
            error = JsonSyntaxError.Describe(body, e);
        }
        catch (ArgumentException e)
        {
            error = e.Message;
        }
        if (error is null)
        {
            return request;
        }
        context.Response.StatusCode = 400;
        await HttpErrors.WriteAsync(context, error);
        return null;
    }

    private static string Text(string setting, JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString()!,
        JsonValueKind.Number => value.GetRawText(),
        _ => throw new ArgumentException($"trace setting '{setting}' takes a string, a number, a list of them or null, got {value.ValueKind}"),
    };
}
