namespace Fabrik.Scheduling;

/// <summary>
/// How many requests a model's queue may hold. Triton leaves a queue unbounded unless the
/// queue policy sets <c>max_queue_size</c>; Fabrik bounds every queue, so overload answers at once
/// (HTTP 503 with Retry-After, gRPC UNAVAILABLE) instead of growing memory and latency without
/// limit. A <c>max_queue_size</c> in the configuration overrides the default.
/// </summary>
internal static class QueueLimits
{
    /// <summary>Queued requests allowed per instance and batch row when the configuration sets no
    /// <c>max_queue_size</c>.</summary>
    public const int DefaultFactor = 64;

    /// <summary>Seconds a client is told to wait before it retries a refused request.</summary>
    public const int RetryAfterSeconds = 1;

    /// <summary>The default bound: instances × max(1, max_batch_size) × <see cref="DefaultFactor"/>.</summary>
    public static int DefaultMaxQueueSize(int instances, int maxBatchSize) =>
        (int)Int128.Min(int.MaxValue, (Int128)Math.Max(1, instances) * Math.Max(1, maxBatchSize) * DefaultFactor);
}
