using Fabrik.Errors;
using Fabrik.Models;
using Fabrik.Observability.Tracing;
using Fabrik.Protocol.Triton;

namespace Fabrik.Protocol;

/// <summary>
/// Triton's trace extension, answered once for both protocols: gRPC's TraceSetting passes its
/// message as it is, and HTTP's <c>/v2[/models/{m}]/trace/setting</c> reads its JSON into the same
/// message (Http/TraceSettingEndpoints.cs). What may change, and what is refused, is decided by
/// <see cref="InferenceTracing.Update"/> alone.
/// </summary>
internal static class TraceSettingExchange
{
    /// <summary>Reads (no settings named) or updates the global settings, or a model's when the
    /// request names one, and returns the settings that apply there afterwards.</summary>
    /// <exception cref="InferenceException">NotFound for an unknown model; InvalidArgument for a
    /// setting that cannot change at run time (trace_file among them) or a value that does not parse.</exception>
    public static TraceSettingResponse Answer(InferenceTracing tracing, ModelManager models, TraceSettingRequest request)
    {
        var model = request.ModelName.Length == 0 ? null : request.ModelName;
        if (model is not null && !models.Models.ContainsKey(model))
        {
            throw InferenceException.NotFound($"unknown model '{model}'");
        }
        var settings = request.Settings.Count == 0
            ? tracing.Describe(model)
            : tracing.Update(model, request.Settings.Select(setting => new TraceSettingChange(setting.Key, setting.Value.Value)));
        var response = new TraceSettingResponse();
        foreach (var (name, values) in settings)
        {
            response.Settings[name] = new TraceSettingResponse.Types.SettingValue { Value = { values } };
        }
        return response;
    }
}
