
namespace Fabrik.Observability;

/// <summary>Compute time of the executions that ran with one batch size.</summary>
internal sealed class BatchStatistics(int batchSize)
{
    public int BatchSize { get; } = batchSize;

    public StatisticDuration ComputeInput { get; } = new();

    public StatisticDuration ComputeInfer { get; } = new();

    public StatisticDuration ComputeOutput { get; } = new();
}
