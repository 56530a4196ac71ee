using System.Collections.Immutable;

namespace Fabrik.Observability.Tracing;

/// <summary>--trace-config, in tritonserver's syntax: <c>mode=triton|opentelemetry</c> (Triton's
/// default: triton), <c>rate=N</c>, <c>level=TIMESTAMPS|OFF</c>, <c>triton,file=PATH</c>,
/// <c>opentelemetry,url=host:port/v1/traces</c>, <c>opentelemetry,resource=key=value</c>. The
/// file and the URL are read here, from the command line, and nowhere else.</summary>
internal sealed record TraceSettings
{
    /// <summary>Triton's default rate and level: tracing is off until asked for.</summary>
    public TraceRuntimeSettings Global { get; init; } = new(TraceLevel.Off, 1000);

    /// <summary>Triton's default mode.</summary>
    public TraceMode Mode { get; init; } = TraceMode.Triton;

    /// <summary>Triton mode's trace file (triton,file=PATH), as given; null writes no file.</summary>
    public string? File { get; init; }

    /// <summary>OTLP over HTTP/protobuf; Triton's default collector address.</summary>
    public Uri Url { get; init; } = new("http://localhost:4318/v1/traces");

    /// <summary>Extra resource attributes (opentelemetry,resource=key=value).</summary>
    public ImmutableArray<KeyValuePair<string, string>> Resource { get; init; } = [];

    /// <summary>Whether any --trace-config was given.</summary>
    public bool Configured { get; init; }

    /// <summary>Whether the OpenTelemetry exporter runs: --trace-config was given with mode=opentelemetry.</summary>
    public bool Exporting => Configured && Mode == TraceMode.OpenTelemetry;

    /// <summary>The mode as the trace extension reports it.</summary>
    public string ModeName => Mode == TraceMode.Triton ? "triton" : "opentelemetry";

    /// <summary>Applies one --trace-config value.</summary>
    public TraceSettings WithConfig(string setting) => Apply(setting) with { Configured = true };

    private TraceSettings Apply(string setting)
    {
        var text = setting;
        var section = "";
        var comma = text.IndexOf(',', StringComparison.Ordinal);
        var equalsBeforeComma = text.IndexOf('=', StringComparison.Ordinal);
        if (comma > 0 && (equalsBeforeComma < 0 || comma < equalsBeforeComma))
        {
            section = text[..comma];
            text = text[(comma + 1)..];
        }
        var equals = text.IndexOf('=', StringComparison.Ordinal);
        if (equals <= 0)
        {
            throw new ArgumentException($"option --trace-config takes [mode,]key=value, got '{setting}'");
        }
        var key = text[..equals];
        var value = text[(equals + 1)..];
        try
        {
            return (section, key) switch
            {
                ("", "mode") => this with { Mode = value switch
                {
                    "triton" => TraceMode.Triton,
                    "opentelemetry" => TraceMode.OpenTelemetry,
                    _ => throw new ArgumentException($"mode takes triton or opentelemetry, got '{value}'"),
                } },
                ("", "rate") => this with { Global = Global with { Rate = TraceRuntimeSettings.ParseRate(value) } },
                ("", "level") => this with { Global = Global with { Level = TraceRuntimeSettings.ParseLevel(value) } },
                ("triton", "file") when value.Length > 0 => this with { File = value },
                ("triton", "file") => throw new ArgumentException("triton,file takes a path"),
                ("opentelemetry", "url") => this with { Url = ParseUrl(value) },
                ("opentelemetry", "resource") when value.IndexOf('=', StringComparison.Ordinal) > 0 =>
                    this with { Resource = Resource.Add(new(value[..value.IndexOf('=', StringComparison.Ordinal)], value[(value.IndexOf('=', StringComparison.Ordinal) + 1)..])) },
                ("opentelemetry", "resource") => throw new ArgumentException($"resource takes key=value, got '{value}'"),
                ("" or "triton" or "opentelemetry", _) => throw new ArgumentException(
                    $"unknown setting '{(section.Length > 0 ? section + "," : "")}{key}' (known: mode, rate, level, triton,file, opentelemetry,url, opentelemetry,resource)"),
                _ => throw new ArgumentException($"unknown trace mode '{section}' (triton or opentelemetry)"),
            };
        }
        catch (ArgumentException e) when (!e.Message.StartsWith("option", StringComparison.Ordinal))
        {
            throw new ArgumentException($"option --trace-config: {e.Message}", e);
        }
    }

    private static Uri ParseUrl(string value)
    {
        var text = value.Contains("://", StringComparison.Ordinal) ? value : "http://" + value;
        return Uri.TryCreate(text, UriKind.Absolute, out var url) && url.Scheme is "http" or "https"
            ? url
            : throw new ArgumentException($"url takes host:port/path, got '{value}'");
    }
}
