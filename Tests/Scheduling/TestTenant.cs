using Fabrik.Inference;

namespace Fabrik.Tests.Scheduling;

/// <summary>A tenant whose weight a test sets (as a reload of the key file would) and whose
/// compute charges it counts.</summary>
internal sealed class TestTenant(string name, int weight = 1) : RequestTenant
{
    private int _weight = weight;
    private long _charged;

    public override string Name => name;

    public override int Weight => Volatile.Read(ref _weight);

    /// <summary>Rows charged so far.</summary>
    public long ChargedRows => Interlocked.Read(ref _charged);

    public void SetWeight(int weight) => Volatile.Write(ref _weight, weight);

    public override void ChargeCompute(string model, int rows, long computeMicroseconds) => Interlocked.Add(ref _charged, rows);

    public override string ToString() => name;
}
