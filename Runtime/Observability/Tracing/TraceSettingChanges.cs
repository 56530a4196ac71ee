using System.Globalization;
using Fabrik.Errors;

namespace Fabrik.Observability.Tracing;

/// <summary>One setting of a trace-setting request, as Triton's trace extension sends it (HTTP
/// or gRPC): its name and its values. No values (JSON null, or an empty gRPC value list) clears
/// the setting: a model's then follows the global one, a global one returns to its start-up value.</summary>
internal readonly record struct TraceSettingChange(string Name, IReadOnlyList<string>? Values)
{
    public bool Clears => Values is null or { Count: 0 };
}

/// <summary>A model's own trace settings: each one it has set, or null where it follows the global
/// setting (so a later global change reaches it, as in Triton).</summary>
internal sealed record TraceOverrides(TraceLevel? Level, int? Rate)
{
    public bool IsEmpty => Level is null && Rate is null;

    public TraceRuntimeSettings Over(TraceRuntimeSettings global) => new(Level ?? global.Level, Rate ?? global.Rate);
}

/// <summary>
/// The names of Triton's trace settings and what may be done with each over the network. Both the
/// HTTP endpoints and the gRPC TraceSetting RPC read requests through <see cref="Parse"/>, so the
/// two cannot disagree on what is refused: trace_level and trace_rate change; trace_count and
/// log_frequency may only be cleared (Fabrik keeps no count and no file rotation, so a client that
/// clears every setting, as Triton's own tests do, still works); trace_file, trace_mode and
/// anything else are refused, so no file path or URL is ever settable from the network.
/// </summary>
internal static class TraceSettingNames
{
    public const string Level = "trace_level";
    public const string Rate = "trace_rate";
    public const string Mode = "trace_mode";
    public const string File = "trace_file";
    public const string Count = "trace_count";
    public const string LogFrequency = "log_frequency";

    /// <summary>What a request asks for: a level and a rate to set (null: not named), and which
    /// of the two it clears. Nothing is applied here.</summary>
    /// <exception cref="InferenceException">InvalidArgument: a setting that cannot change at run
    /// time, or a value that does not parse; the message names it.</exception>
    public static ParsedChanges Parse(IEnumerable<TraceSettingChange> changes)
    {
        var parsed = new ParsedChanges();
        foreach (var change in changes)
        {
            switch (change.Name)
            {
                case Level:
                    if (change.Clears)
                    {
                        parsed.ClearLevel = true;
                        break;
                    }
                    parsed.Level = change.Values!.Count == 1
                        ? Parsed(Level, () => TraceRuntimeSettings.ParseLevel(change.Values[0]))
                        : throw InferenceException.InvalidArgument($"{Level} takes one of OFF or TIMESTAMPS, got {change.Values.Count} levels");
                    break;
                case Rate:
                    if (change.Clears)
                    {
                        parsed.ClearRate = true;
                        break;
                    }
                    parsed.Rate = change.Values!.Count == 1
                        ? Parsed(Rate, () => TraceRuntimeSettings.ParseRate(change.Values[0]))
                        : throw InferenceException.InvalidArgument($"{Rate} takes one value, got {change.Values.Count}");
                    break;
                case Count or LogFrequency when change.Clears:
                    break;
                case File:
                    throw InferenceException.InvalidArgument($"{File} cannot be set over the network; the trace file is fixed on the command line (--trace-config triton,file=PATH)");
                default:
                    throw InferenceException.InvalidArgument(
                        $"trace setting '{change.Name}' cannot be changed at run time (only {Level} and {Rate} can)");
            }
        }
        return parsed;
    }

    private static T Parsed<T>(string setting, Func<T> parse)
    {
        try
        {
            return parse();
        }
        catch (ArgumentException e)
        {
            throw InferenceException.InvalidArgument($"{setting}: {e.Message}");
        }
    }

    /// <summary>A rate as the extension writes it.</summary>
    public static string RateText(int rate) => rate.ToString(CultureInfo.InvariantCulture);
}

/// <summary>A validated trace-setting request (see <see cref="TraceSettingNames.Parse"/>).</summary>
internal sealed class ParsedChanges
{
    public TraceLevel? Level { get; set; }

    public int? Rate { get; set; }

    public bool ClearLevel { get; set; }

    public bool ClearRate { get; set; }

    /// <summary>A model's overrides after this request.</summary>
    public TraceOverrides ApplyTo(TraceOverrides own) => new(
        ClearLevel ? null : Level ?? own.Level,
        ClearRate ? null : Rate ?? own.Rate);

    /// <summary>The global settings after this request; a cleared one returns to <paramref name="startup"/>'s.</summary>
    public TraceRuntimeSettings ApplyTo(TraceRuntimeSettings global, TraceRuntimeSettings startup) => new(
        ClearLevel ? startup.Level : Level ?? global.Level,
        ClearRate ? startup.Rate : Rate ?? global.Rate);
}
