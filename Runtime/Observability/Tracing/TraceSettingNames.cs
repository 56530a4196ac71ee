using System.Globalization;
using Fabrik.Errors;

namespace Fabrik.Observability.Tracing;

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
