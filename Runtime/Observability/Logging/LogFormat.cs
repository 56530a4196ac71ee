namespace Fabrik.Observability.Logging;

/// <summary>How log lines are written (--log-format).</summary>
internal enum LogFormat
{
    /// <summary>One line per message, local time of day.</summary>
    Default,

    /// <summary>One line per message, ISO 8601 UTC timestamps.</summary>
    Iso8601,

    /// <summary>One JSON object per line (the console logger's JSON formatter).</summary>
    Json,
}
