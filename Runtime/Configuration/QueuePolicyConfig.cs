namespace Fabrik.Configuration;

/// <summary>A queue policy (Triton's ModelQueuePolicy). Zero means "no limit" for the timeout and
/// the queue size.</summary>
internal sealed record QueuePolicyConfig(TimeoutAction TimeoutAction, long DefaultTimeoutMicroseconds, bool AllowTimeoutOverride, int MaxQueueSize)
{
    public static readonly QueuePolicyConfig Default = new(TimeoutAction.Reject, 0, false, 0);
}
