using System.Text.Json;
using Fabrik.Models;
using Fabrik.Observability.Tracing;

namespace Fabrik.Protocol.Http;

/// <summary>
/// Triton's trace extension over HTTP: <c>GET/POST /v2/trace/setting</c> and
/// <c>/v2/models/{model}/trace/setting</c>. Only trace_level and trace_rate can change at run
/// time; a request that names trace_file, log_frequency or any other setting is refused, so no
/// file path or URL is ever settable over the network.
/// </summary>
internal static class TraceSettingEndpoints
{
    public static void Map(IEndpointRouteBuilder routes, InferenceTracing tracing, ModelManager models)
    {
        routes.MapGet("/v2/trace/setting", () => Results.Json(Describe(tracing.Global)));
        routes.MapPost("/v2/trace/setting", async (HttpRequest request) =>
        {
            var (settings, error) = await ReadAsync(request, tracing.Global);
            if (settings is null)
            {
                return Results.Json(new Dictionary<string, string> { ["error"] = error! }, statusCode: 400);
            }
            tracing.SetGlobal(settings);
            return Results.Json(Describe(settings));
        });
        routes.MapGet("/v2/models/{model}/trace/setting", (string model) =>
            models.Models.ContainsKey(model)
                ? Results.Json(Describe(tracing.For(model)))
                : Results.Json(new Dictionary<string, string> { ["error"] = $"unknown model '{model}'" }, statusCode: 404));
        routes.MapPost("/v2/models/{model}/trace/setting", async (string model, HttpRequest request) =>
        {
            if (!models.Models.ContainsKey(model))
            {
                return Results.Json(new Dictionary<string, string> { ["error"] = $"unknown model '{model}'" }, statusCode: 404);
            }
            var (settings, error) = await ReadAsync(request, tracing.For(model));
            if (settings is null)
            {
                return Results.Json(new Dictionary<string, string> { ["error"] = error! }, statusCode: 400);
            }
            tracing.SetModel(model, settings);
            return Results.Json(Describe(settings));
        });
    }

    private static Dictionary<string, object> Describe(TraceRuntimeSettings settings) => new()
    {
        ["trace_level"] = new[] { TraceRuntimeSettings.LevelName(settings.Level) },
        ["trace_rate"] = settings.Rate.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["trace_mode"] = "opentelemetry",
    };

    /// <summary>Applies the body's settings to <paramref name="current"/>; null and the reason
    /// when the body is malformed or names a setting that cannot change at run time.</summary>
    private static async Task<(TraceRuntimeSettings? Settings, string? Error)> ReadAsync(HttpRequest request, TraceRuntimeSettings current)
    {
        JsonDocument document;
        try
        {
            document = await JsonDocument.ParseAsync(request.Body, cancellationToken: request.HttpContext.RequestAborted);
        }
        catch (JsonException e)
        {
            return (null, $"malformed JSON in the request body: {e.Message}");
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                return (null, "the trace settings must be a JSON object");
            }
            var settings = current;
            foreach (var property in document.RootElement.EnumerateObject())
            {
                try
                {
                    settings = property.Name switch
                    {
                        "trace_level" => settings with { Level = TraceRuntimeSettings.ParseLevel(Level(property.Value)) },
                        "trace_rate" => settings with { Rate = TraceRuntimeSettings.ParseRate(Text(property.Value)) },
                        _ => throw new ArgumentException(
                            $"trace setting '{property.Name}' cannot be changed at run time (only trace_level and trace_rate can)"),
                    };
                }
                catch (ArgumentException e)
                {
                    return (null, e.Message);
                }
            }
            return (settings, null);
        }
    }

    private static string Text(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString()!,
        JsonValueKind.Number => value.GetRawText(),
        _ => throw new ArgumentException($"expected a string or a number, got {value.ValueKind}"),
    };

    /// <summary>Triton sends trace_level as a list of levels; one is taken.</summary>
    private static string Level(JsonElement value) => value.ValueKind == JsonValueKind.Array
        ? value.GetArrayLength() == 1 ? Text(value[0]) : throw new ArgumentException("trace_level takes one of OFF or TIMESTAMPS")
        : Text(value);
}
