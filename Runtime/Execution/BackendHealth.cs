using System.Globalization;
using Fabrik.Configuration;

namespace Fabrik.Execution;

/// <summary>
/// Whether a model version's backend still works: after <see cref="Threshold"/> consecutive
/// failed executions (a poisoned CUDA context, a session that fails every run) the version reports
/// not ready, so a load balancer stops sending to it. Requests still run, and the first success
/// makes it ready again; a reload starts a new count.
/// </summary>
/// <remarks>Thread-safe: instance loops record outcomes, readiness probes read them. Only backend
/// failures count (errors of kind Internal), never a client's invalid request.</remarks>
internal sealed class BackendHealth
{
    /// <summary>Consecutive failures after which a version is not ready, unless the model's
    /// configuration sets <see cref="ThresholdParameter"/>.</summary>
    public const int DefaultThreshold = 5;

    /// <summary>The config.pbtxt parameter that overrides the threshold (0 turns the check off):
    /// <c>parameters { key: "health_failure_threshold" value: { string_value: "3" } }</c>.</summary>
    public const string ThresholdParameter = "health_failure_threshold";

    private int _consecutiveFailures;
    private volatile string _lastFailure = "";

    public BackendHealth(ModelConfig config)
    {
        Threshold = config.Parameters.TryGetValue(ThresholdParameter, out var text)
            && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var threshold)
                ? threshold
                : DefaultThreshold;
    }

    /// <summary>Consecutive failures that make the version not ready; 0 for never.</summary>
    public int Threshold { get; }

    /// <summary>Executions that failed since the last one that succeeded.</summary>
    public int ConsecutiveFailures => Volatile.Read(ref _consecutiveFailures);

    public bool IsHealthy => Threshold == 0 || ConsecutiveFailures < Threshold;

    /// <summary>Why the version is not ready, or null while it is healthy.</summary>
    public string? Reason => IsHealthy
        ? null
        : $"not ready after {ConsecutiveFailures} consecutive backend failures (threshold {Threshold}); the last: {_lastFailure}";

    public void RecordSuccess()
    {
        if (Volatile.Read(ref _consecutiveFailures) != 0)
        {
            Volatile.Write(ref _consecutiveFailures, 0);
        }
    }

    public void RecordFailure(string message)
    {
        _lastFailure = message;
        Interlocked.Increment(ref _consecutiveFailures);
    }
}
