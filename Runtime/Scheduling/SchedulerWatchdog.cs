namespace Fabrik.Scheduling;

/// <summary>
/// Tells a wedged server from a busy one for the liveness probe: a run that has been in progress
/// longer than --watchdog-secs (a hung native call, a deadlocked device) means the process cannot
/// recover by itself, so liveness turns false and the orchestrator restarts it. Readiness, not
/// liveness, covers ordinary overload and backend failures.
/// </summary>
internal static class SchedulerWatchdog
{
    /// <summary>True when one of <paramref name="schedulers"/> has a run older than
    /// <paramref name="limitSeconds"/> (never when the limit is 0).</summary>
    public static bool IsWedged(IEnumerable<ModelScheduler> schedulers, int limitSeconds) =>
        limitSeconds > 0 && schedulers.Any(scheduler => scheduler.LongestRun > TimeSpan.FromSeconds(limitSeconds));
}
