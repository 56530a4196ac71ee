using Fabrik.Configuration;
using Fabrik.Errors;
using Fabrik.Inference;

namespace Fabrik.Scheduling;

/// <summary>
/// Reads the request parameters that steer scheduling, <c>priority</c> and <c>timeout</c>, as
/// Triton does. Values the client got wrong are refused with InvalidArgument before the request
/// reaches a queue. Stateless, so safe from any thread.
/// </summary>
internal static class RequestParameters
{
    /// <summary>The request's priority level (1-based). Without priority levels every request is
    /// level 1; a missing or zero <c>priority</c> takes the default level.</summary>
    public static int PriorityLevel(InferenceRequest request, SchedulerSettings settings, string modelName)
    {
        if (settings.PriorityLevels == 0)
        {
            return 1;
        }
        if (!request.Parameters.TryGetValue("priority", out var value))
        {
            return settings.DefaultPriorityLevel;
        }
        var level = value switch
        {
            long signed when signed >= 0 => (ulong)signed,
            ulong unsigned => unsigned,
            _ => throw InferenceException.InvalidArgument($"parameter 'priority' must be a non-negative integer, got {value}"),
        };
        if (level == 0)
        {
            return settings.DefaultPriorityLevel;
        }
        return level <= (ulong)settings.PriorityLevels
            ? (int)level
            : throw InferenceException.InvalidArgument($"priority {level} is out of range for model '{modelName}', which has priority levels 1 to {settings.PriorityLevels}");
    }

    /// <summary>The queue timeout in microseconds (0 for none). A request's "timeout" parameter
    /// applies only where the policy allows overrides, and only ever shortens the timeout.</summary>
    public static long TimeoutMicroseconds(InferenceRequest request, QueuePolicyConfig policy)
    {
        var timeout = policy.DefaultTimeoutMicroseconds;
        if (policy.AllowTimeoutOverride && request.Parameters.TryGetValue("timeout", out var value))
        {
            var requested = value switch
            {
                long signed when signed >= 0 => signed,
                ulong unsigned => (long)Math.Min(unsigned, long.MaxValue),
                _ => throw InferenceException.InvalidArgument($"parameter 'timeout' must be a non-negative number of microseconds, got {value}"),
            };
            if (requested > 0 && (timeout == 0 || requested < timeout))
            {
                timeout = requested;
            }
        }
        return timeout;
    }
}
