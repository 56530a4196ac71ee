namespace Fabrik.Benchmarks.DeviceSim;

/// <summary>One device-sim measurement: each instance's busy fraction of the window and mean
/// executed batch (rows), the inferences answered per second, what full batches would give, and
/// the load generator's errors.</summary>
public sealed record DeviceSimResult(double[] Utilisation, double[] MeanBatch, double Served, double Ideal, long Errors);
