
namespace Fabrik.Models;

/// <summary>What readiness probes and the repository index report for a model: its lifecycle
/// state, and whether each served version's backend still works (<see cref="Execution.BackendHealth"/>).</summary>
internal static class ModelHealth
{
    /// <summary>READY and every served version healthy.</summary>
    public static bool IsReady(ModelEntry entry) =>
        entry.State == ModelState.Ready && entry.Versions.Values.All(version => version.Scheduler.Health.IsHealthy);

    /// <summary>The entry's reason, or, for a READY model with an unhealthy version, why that
    /// version is not ready.</summary>
    public static string Reason(ModelEntry entry)
    {
        foreach (var version in entry.Versions.Values)
        {
            if (version.Scheduler.Health.Reason is { } reason)
            {
                return $"version {version.VersionText}: {reason}";
            }
        }
        return entry.Reason;
    }
}
