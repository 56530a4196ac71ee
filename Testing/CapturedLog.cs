using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Fabrik.Testing;

/// <summary>
/// A logger provider that keeps every entry the server writes at a level or above (Warning unless
/// told otherwise: category, message and exception), for tests that assert what a server did or
/// did not log. Add it to an in-process server through <c>FabrikServer.StartAsync</c>'s host hook.
/// </summary>
public sealed class CapturedLog(LogLevel minimum = LogLevel.Warning) : ILoggerProvider
{
    private readonly ConcurrentQueue<Entry> _entries = new();
    private readonly LogLevel _minimum = minimum;

    /// <summary>One logged entry.</summary>
    public sealed record Entry(string Category, LogLevel Level, string Message, Exception? Exception)
    {
        public override string ToString() => $"{Level} {Category}: {Message}{(Exception is null ? "" : "\n" + Exception)}";
    }

    public IReadOnlyCollection<Entry> Entries => _entries;

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private sealed class Logger(CapturedLog owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= owner._minimum;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                owner._entries.Enqueue(new Entry(category, logLevel, formatter(state, exception), exception));
            }
        }
    }
}
