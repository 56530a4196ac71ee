using Fabrik.Observability.Logging;
using Microsoft.Extensions.Logging.Console;

namespace Fabrik.Hosting;

/// <summary>Sets up the server's logging from --log-* flags: levels, format and destination.</summary>
internal static class LoggingSetup
{
    private static readonly Lock s_logFileGate = new();

    /// <summary>The file --log-file opened, shared by every server in the process; opened once,
    /// under <see cref="s_logFileGate"/>.</summary>
    private static StreamWriter? s_logFile;

    public static void Configure(ILoggingBuilder logging, ServerOptions options)
    {
        var settings = options.Logging;
        logging.ClearProviders();
        if (settings.File is { } path)
        {
            RedirectConsole(path);
        }
        switch (settings.Format)
        {
            case LogFormat.Json:
                logging.AddJsonConsole(json =>
                {
                    json.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                    json.UseUtcTimestamp = true;
                });
                break;
            default:
                logging.AddSimpleConsole(console =>
                {
                    console.SingleLine = true;
                    console.ColorBehavior = settings.File is null ? LoggerColorBehavior.Default : LoggerColorBehavior.Disabled;
                    console.TimestampFormat = settings.Format == LogFormat.Iso8601 ? "yyyy-MM-ddTHH:mm:ss.fffZ " : "HH:mm:ss.fff ";
                    console.UseUtcTimestamp = settings.Format == LogFormat.Iso8601;
                });
                break;
        }
        // One rule for every category, so the --log-* switches hold everywhere; ASP.NET Core's
        // own information messages only with --log-verbose.
        var verbose = options.LogVerbose;
        logging.SetMinimumLevel(LogLevel.Trace);
        logging.AddFilter((category, level) => settings.Allows(level, verbose)
            && (!IsFramework(category) || level >= (verbose > 0 ? LogLevel.Information : LogLevel.Warning)));
    }

    private static bool IsFramework(string? category) =>
        category is not null && (category.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal) || category.StartsWith("Microsoft.Hosting", StringComparison.Ordinal)
            || category.StartsWith("Grpc.", StringComparison.Ordinal));

    /// <summary>The console logger writes to <see cref="Console.Out"/>; pointing it at the file
    /// keeps one formatter for both destinations.</summary>
    private static void RedirectConsole(string path)
    {
        lock (s_logFileGate)
        {
            if (s_logFile is null)
            {
                var full = Path.GetFullPath(path);
                s_logFile = new StreamWriter(new FileStream(full, FileMode.Append, FileAccess.Write, FileShare.Read)) { AutoFlush = true };
                Console.SetOut(s_logFile);
            }
        }
    }
}
