namespace Fabrik.Testing.Regression;

/// <summary>One benchmark's measurements: nanoseconds per operation of each measured (workload,
/// result) iteration, and bytes allocated per operation.</summary>
public sealed record BenchmarkMeasurements(string Name, double[] NanosecondsPerOperation, long? AllocatedBytesPerOperation);
