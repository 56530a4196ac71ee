namespace Fabrik.Observability.Logging;

/// <summary>Logging settings from tritonserver's flags. Fixed at start-up: nothing here can be
/// changed over the network.</summary>
internal sealed record LogSettings
{
    /// <summary>--log-info.</summary>
    public bool Info { get; init; } = true;

    /// <summary>--log-warning.</summary>
    public bool Warning { get; init; } = true;

    /// <summary>--log-error.</summary>
    public bool Error { get; init; } = true;

    /// <summary>--log-format.</summary>
    public LogFormat Format { get; init; } = LogFormat.Default;

    /// <summary>--log-file: where the log goes instead of the console; null for the console.</summary>
    public string? File { get; init; }

    /// <summary>--log-access: one line per HTTP or gRPC request.</summary>
    public bool Access { get; init; }

    /// <summary>Parses --log-format's value.</summary>
    public static LogFormat ParseFormat(string text) => text.ToLowerInvariant() switch
    {
        "default" => LogFormat.Default,
        "iso8601" => LogFormat.Iso8601,
        "json" => LogFormat.Json,
        _ => throw new ArgumentException($"option --log-format takes default, ISO8601 or json, got '{text}'"),
    };

    /// <summary>Whether a message of <paramref name="level"/> is written, given --log-verbose.</summary>
    public bool Allows(LogLevel level, int verbose) => level switch
    {
        LogLevel.Trace or LogLevel.Debug => verbose > 0,
        LogLevel.Information => Info,
        LogLevel.Warning => Warning,
        LogLevel.Error or LogLevel.Critical => Error,
        _ => false,
    };
}
