
namespace Fabrik.Observability.Tracing;

/// <summary>Where one traced request spent its time, filled by the scheduler when it runs the
/// request; read by tracing once the request is answered. Stopwatch ticks. Only traced requests
/// carry one, so untraced requests pay nothing for it.</summary>
internal sealed class RequestTimeline
{
    /// <summary>When the execution the request ran in began (0 if it never ran).</summary>
    public long ExecutionStartTimestamp { get; set; }

    public long QueueTicks { get; set; }

    /// <summary>Compute phases of the execution the request ran in: preparing inputs.</summary>
    public long ComputeInputTicks { get; set; }

    /// <summary>Running the model.</summary>
    public long ComputeInferTicks { get; set; }

    /// <summary>Extracting outputs.</summary>
    public long ComputeOutputTicks { get; set; }
}
